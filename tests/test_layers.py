"""The house's layers: no module imports one above it (lazy imports inside functions included).

    config, errors, mulaw, dsp, files, device   the ground floor
    encoders, decoders                          architectures
    model, weights                              the autoencoder and its files
    generation | training                       side by side: neither imports the other
    api, interpolation, sound_design, ...       the library's public functions
    cli, serve                                  front ends, over the library
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "nsynth": ROOT / "nsynth",
    "nsynth.encoders": ROOT / "encoders",
    "nsynth.decoders": ROOT / "decoders",
}

# module prefix -> prefixes it must never import
FORBIDDEN = {
    "nsynth.config": ["nsynth.model", "nsynth.generation", "nsynth.training", "nsynth.api", "nsynth.cli", "nsynth.serve"],
    "nsynth.mulaw": ["nsynth.model", "nsynth.generation", "nsynth.training", "nsynth.api", "nsynth.cli", "nsynth.serve"],
    "nsynth.encoders": ["nsynth.model", "nsynth.weights", "nsynth.generation", "nsynth.training", "nsynth.api", "nsynth.cli", "nsynth.serve"],
    "nsynth.decoders": ["nsynth.model", "nsynth.weights", "nsynth.generation", "nsynth.training", "nsynth.api", "nsynth.cli", "nsynth.serve"],
    "nsynth.model": ["nsynth.weights", "nsynth.generation", "nsynth.training", "nsynth.api", "nsynth.cli", "nsynth.serve"],
    "nsynth.weights": ["nsynth.generation", "nsynth.training", "nsynth.api", "nsynth.cli", "nsynth.serve"],
    "nsynth.generation": ["nsynth.training", "nsynth.api", "nsynth.cli", "nsynth.serve", "nsynth.interpolation", "nsynth.sound_design"],
    "nsynth.training": ["nsynth.generation", "nsynth.api", "nsynth.cli", "nsynth.serve", "nsynth.interpolation", "nsynth.sound_design"],
}
LIBRARY_FORBIDS = ["nsynth.cli", "nsynth.serve"]  # nothing but the front ends imports them


def _modules():
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            yield ".".join([package, *parts]), path


def _imports(name: str, path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append(mod)
            found += [f"{mod}.{a.name}" for a in node.names]  # `from nsynth import generation`
    return found


def _under(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


def test_no_module_imports_a_layer_above_it():
    modules = dict(_modules())
    assert "nsynth.decoders.wavenet" in modules and "nsynth.training.augment" in modules
    bad = []
    for name, path in modules.items():
        rules = [f for prefix, f in FORBIDDEN.items() if _under(name, prefix)]
        forbidden = [p for f in rules for p in f]
        if not any(_under(name, p) for p in LIBRARY_FORBIDS):
            forbidden += LIBRARY_FORBIDS
        for mod in _imports(name, path):
            hit = [p for p in forbidden if _under(mod, p) and not _under(name, p)]
            if hit:
                bad.append(f"{name} imports {mod}")
    assert not bad, "\n".join(bad)


def test_the_rule_catches_an_upward_import(tmp_path):
    """The check itself can fail: a decoder that reached up into generation is caught."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from nsynth.generation.reference import sample_classes\n")
    mods = _imports("nsynth.decoders.probe", probe)
    assert any(_under(m, "nsynth.generation") for m in mods)
