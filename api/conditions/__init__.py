"""One condition language for rules, SLA policies and previews: a tree of ``{field, operator, value}``
conditions read against the field catalog (``fields.py``, ``tree.py``), compiled to a Python predicate and
to SQL (``compile.py``), and explained condition by condition (``explain.py``)."""
