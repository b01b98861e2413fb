"""The baseline for the /healthz benchmark: a bare Litestar hello-world, nothing else."""

from litestar import Litestar, get


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar(route_handlers=[healthz], logging_config=None)
