"""Name -> network module, imported lazily.

Each network module exposes ``PRESETS: dict[str, dict]`` (config per preset) and
``build(preset: str, **overrides) -> nn.Module``.
"""

import importlib

_MODULES = {
    "mcmoe": "models.mcmoe",
    "dualalign": "models.dualalign",
    "limssr": "models.limssr",
}


def available_models() -> list[str]:
    return sorted(_MODULES)


def _module(name: str):
    try:
        return importlib.import_module(_MODULES[name])
    except KeyError:
        known = ", ".join(available_models())
        raise ValueError(f"Unknown model {name!r}; known models: {known}.") from None


def presets(name: str) -> list[str]:
    return sorted(_module(name).PRESETS)


def preset_config(name: str, preset: str) -> dict:
    """The configuration of ``preset`` (without building the network or loading any weights)."""
    module = _module(name)
    if preset not in module.PRESETS:
        known = ", ".join(sorted(module.PRESETS))
        raise ValueError(f"Model {name!r} has no preset {preset!r}; presets: {known}.")
    return module.PRESETS[preset]


def build(name: str, preset: str, **overrides):
    """Build network ``name`` with the configuration of ``preset`` (overridden by ``overrides``)."""
    preset_config(name, preset)
    return _module(name).build(preset, **overrides)
