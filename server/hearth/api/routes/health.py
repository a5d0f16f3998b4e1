from __future__ import annotations

from fastapi import APIRouter

from hearth.api.deps import ServicesDep

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
def health(services: ServicesDep) -> dict[str, object]:
    return {
        "status": "ok",
        "model": services.choices.model_path.name,
        "backend": services.settings.llm.backend,  # local, or remote: a model server runs it
        "n_ctx": services.model.n_ctx,
        "voice": services.choices.default_voice,
    }
