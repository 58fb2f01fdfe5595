"""A lens made by ``@atdata.lens`` pickles by reference, as a class does, so spawn workers get it.

The module holds the lens under the function's name, so the function itself cannot be pickled by
reference; the lens is, and unpickles as the very object its module defines.
"""

from __future__ import annotations

import multiprocessing
import pickle

from lens_types import bath_application, frame, thumbnail

import atdata


def test_a_decorated_lens_unpickles_as_the_module_s_own_object() -> None:
    assert pickle.loads(pickle.dumps(bath_application)) is bath_application
    chain = bath_application | thumbnail
    copy = pickle.loads(pickle.dumps(chain))  # a composed lens pickles by value, its steps by reference
    assert copy(frame(3)) == chain(frame(3))


def test_a_decorated_lens_runs_in_a_spawned_process() -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        got = pool.apply(atdata.Lens.get, (bath_application, frame(2)))
    assert got == bath_application(frame(2))


def test_a_lens_not_held_by_its_module_pickles_by_value() -> None:
    made = atdata.Lens.from_source(
        "def get(s):\n    return {'compound': s.applied_compound, 'pixels': s.image}\n",
        source=type(bath_application(frame(0))),
        target=type(thumbnail(bath_application(frame(0)))),
        isolation="inline",
    )
    copy = pickle.loads(pickle.dumps(made))
    assert copy is not made and copy(bath_application(frame(1))) == made(bath_application(frame(1)))
