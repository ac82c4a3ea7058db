"""Pytree walkers on trees deeper than the recursion limit (issue 10 item 5): key paths,
maps with paths, and vmap's in_axes prefixes."""

from collections import namedtuple

import numpy as np
import pytest

import dualjit as dj
from dualjit import tree_util

Pair = namedtuple("Pair", ["inner", "side"])


pytestmark = pytest.mark.usefixtures("default_recursion_limit")


def deep_tree(depth, leaf_every=1000, leaf=lambda i: float(i)):
    """A tree `depth` nodes deep cycling list, tuple, dict and namedtuple nodes, with a side
    leaf every `leaf_every` levels; also each leaf's key path written out independently."""
    tree, paths = leaf(-1), [[]]  # paths innermost-first while building, reversed at the end
    for i in range(depth):
        side = leaf(i) if i % leaf_every == 0 else None
        kind = i % 4
        if kind == 0:
            tree, key, side_key = [tree, side], tree_util.SequenceKey(0), tree_util.SequenceKey(1)
        elif kind == 1:
            tree, key, side_key = (side, tree), tree_util.SequenceKey(1), tree_util.SequenceKey(0)
        elif kind == 2:
            tree, key, side_key = {"x": tree, "s": side}, tree_util.DictKey("x"), \
                tree_util.DictKey("s")
        else:
            tree, key, side_key = Pair(tree, side), tree_util.GetAttrKey("inner"), \
                tree_util.GetAttrKey("side")
        paths = [p + [key] for p in paths]
        if side is not None:
            paths.append([side_key])
    return tree, [tuple(reversed(p)) for p in paths]


@pytest.mark.parametrize("depth", [10_000])
def test_key_paths_of_a_tree_deeper_than_the_recursion_limit(depth):
    tree, paths = deep_tree(depth)
    pairs, treedef = tree_util.tree_flatten_with_path(tree)
    assert treedef == dj.tree_flatten(tree)[1]
    leaves = [x for _, x in pairs]
    assert leaves == dj.tree_flatten(tree)[0]
    assert sorted(leaves) == [-1.0] + [float(i) for i in range(0, depth, 1000)]
    expected = {-1.0: paths[0]}
    expected.update({float(i): p for i, p in zip(range(0, depth, 1000), paths[1:])})
    for path, x in pairs:
        assert path == expected[x]
    # root first: the outermost node is the namedtuple of level 9999, then a dict, a tuple...
    assert tree_util.keystr(pairs[-1][0]).startswith(".inner['x'][1][0].inner")


def test_map_with_path_rebuilds_a_deep_tree():
    tree, paths = deep_tree(5000, leaf_every=500)
    depth_of = tree_util.tree_map_with_path(lambda p, x: (len(p), x), tree)
    pairs, _ = tree_util.tree_flatten_with_path(depth_of, is_leaf=lambda n: (
        isinstance(n, tuple) and len(n) == 2 and isinstance(n[0], int)
        and not isinstance(n, Pair)))
    by_leaf = {x: d for _, (d, x) in pairs}
    assert by_leaf[-1.0] == 5000 and by_leaf[0.0] == 5000
    assert by_leaf[4500.0] == 500  # the side leaf of level 4500 hangs 500 levels down


def test_vmap_with_in_axes_a_deep_prefix():
    tree, _ = deep_tree(3000, leaf_every=1000, leaf=lambda i: np.arange(3.0) + i)
    axes, _ = deep_tree(3000, leaf_every=1000, leaf=lambda i: 0)
    total = dj.vmap(lambda t: sum(dj.tree_leaves(t)), in_axes=(axes,))(tree)
    expected = sum(np.arange(3.0) + i for i in [-1, 0, 1000, 2000])
    np.testing.assert_allclose(total, expected)


def _nested(depth, leaf):
    tree = leaf
    for _ in range(depth):
        tree = [tree]
    return tree


def _depth_and_leaf(tree):
    depth = 0
    while isinstance(tree, list):
        tree, depth = tree[0], depth + 1
    return depth, tree


def test_a_nested_checkpoint_loads_as_saved_and_a_too_deep_one_raises_saying_why(tmp_path):
    path = tmp_path / "deep.pt"
    dj.save(_nested(200, np.arange(3.0)), path)
    depth, leaf = _depth_and_leaf(dj.load(path))
    assert depth == 200
    np.testing.assert_array_equal(leaf, np.arange(3.0))
    with pytest.raises(ValueError, match=r"dualjit.save: .*nests containers too deeply"):
        dj.save(_nested(5_000, 1.0), tmp_path / "deeper.pt")
    import json
    import zipfile
    with zipfile.ZipFile(tmp_path / "crafted.pt", "w") as archive:  # JSON nesting Python can
        archive.writestr("dualjit_format", "dualjit.save 1")      # not read back recursively
        archive.writestr("skeleton.json", json.dumps(_nested(900, 1.0)))
    with pytest.raises(ValueError, match=r"dualjit.load: .*nests containers too deeply"):
        dj.load(tmp_path / "crafted.pt")


def test_compile_runs_eagerly_on_arguments_nested_too_deep_for_its_guard_key(caplog):
    import logging

    def innermost_twice(tree):
        while isinstance(tree, list):
            tree = tree[0]
        return tree * 2

    run = dj.compile(innermost_twice)
    t = dj.tensor(np.array([1.0, -2.0]))
    with caplog.at_level(logging.WARNING, logger="dualjit.compile"):
        results = [run(_nested(5_000, t)) for _ in range(3)]
    for r in results:
        np.testing.assert_array_equal(r.numpy(), [2.0, -4.0])
    assert "runs eagerly" in caplog.text and "more than 100 deep" in caplog.text
    np.testing.assert_array_equal(run(_nested(3, t)).numpy(), [2.0, -4.0])  # shallow: compiled


def test_an_export_of_a_deep_pytree_runs_and_serializing_it_raises_saying_why():
    def innermost_twice(tree):
        while isinstance(tree, list):
            tree = tree[0]
        return tree * 2

    x = np.array([1.0, -2.0])
    exp = dj.export(dj.jit(innermost_twice))(_nested(3_000, x))
    np.testing.assert_array_equal(exp.call(_nested(3_000, x)), [2.0, -4.0])
    with pytest.raises(ValueError, match=r"Exported.serialize: .*nests containers too deeply"):
        exp.serialize()
    shallow = dj.deserialize(dj.export(dj.jit(innermost_twice))(_nested(50, x)).serialize())
    np.testing.assert_array_equal(shallow.call(_nested(50, -x)), [-2.0, 4.0])
