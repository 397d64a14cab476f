"""dn_mm's subpackages import downwards only: utils <- models / dataset_tools <- engine,
deployment, analysis. A module of a lower layer that imports a higher one is a cycle waiting
to happen."""
import ast

from helpers import ROOT

#: subpackage -> the dn_mm subpackages it may import (besides itself)
ALLOWED = {'utils': set(), 'models': {'utils'}, 'dataset_tools': {'utils'},
           'engine': {'models', 'utils'}, 'deployment': {'models', 'utils'},
           'analysis': {'models', 'utils', 'dataset_tools'}}


def imported_subpackages(path):
    """The dn_mm subpackages a module imports, relative or absolute, anywhere in it."""
    parts = path.relative_to(ROOT).with_suffix('').parts  # ('dn_mm', 'engine', ..., name)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = list(parts[:-1])[:len(parts) - node.level]
            target = base + (node.module.split('.') if node.module else [])
        else:
            target = (node.module or '').split('.')
        if target[:1] == ['dn_mm'] and len(target) > 1:
            found.add(target[1])
    return found


def test_no_import_points_up_the_layers():
    wrong = []
    for path in sorted((ROOT / 'dn_mm').rglob('*.py')):
        parts = path.relative_to(ROOT).parts
        if '.mim' in parts or len(parts) < 3:
            continue  # dn_mm/__init__.py, compat.py, version.py sit above the subpackages
        layer = parts[1]
        for other in imported_subpackages(path) - {layer}:
            if other not in ALLOWED[layer]:
                wrong.append(f'{path.relative_to(ROOT)} imports dn_mm.{other}')
    assert not wrong, wrong


def test_the_check_sees_relative_imports():
    module = ROOT / 'dn_mm' / 'models' / 'layers' / 'dnb.py'
    assert 'utils' not in imported_subpackages(module)
    assert imported_subpackages(ROOT / 'dn_mm' / 'models' / 'backbone_export.py') == {'utils'}
    assert 'models' in imported_subpackages(ROOT / 'dn_mm' / 'engine' / 'hooks' /
                                            'non_finite_guard_hook.py')


def test_every_public_constructor_types_its_arguments():
    """Each public class of dn_mm says in its ``__init__`` what every argument takes."""
    untyped = []
    for path in sorted((ROOT / 'dn_mm').rglob('*.py')):
        if '.mim' in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef) or node.name.startswith('_'):
                continue
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == '__init__':
                    args = item.args.args[1:] + item.args.kwonlyargs
                    untyped += [f'{path.relative_to(ROOT)}: {node.name}({a.arg})'
                                for a in args if a.annotation is None]
    assert not untyped, untyped
