"""The sandbox boundary, proved by attack: public Python-sandbox-escape techniques, one per case.

Every case is real lens code that would touch the outside world (write the sentinel file, read the
secret, connect to the loopback listener, start a process, change shared module state, change the
caller's data) if it escaped. Each must be refused by the validator (``static``) or stopped with a
LensExecutionError while running (``runtime``), and afterwards the world must be untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sandbox_harness import ISOLATIONS, Outcome, World, attempt

from atdata.sandbox import Limits, validate_source


@dataclass(frozen=True)
class Escape:
    id: str
    code: str
    stage: str  # "static" or "runtime"
    reason: str  # a fragment of the violation or failure reason
    isolations: tuple[str, ...] = ISOLATIONS
    limits: Limits | None = None


def _body(*lines: str, imports: str = "import numpy as np\nimport math\n") -> str:
    return imports + "def get(source):\n" + "".join(f"    {line}\n" for line in lines)


FAST = Limits(wall_seconds_per_batch=1.5, cpu_seconds=2)

STATIC = [
    # --- object-graph walks -----------------------------------------------------------------
    Escape(
        "subclass-walk",
        _body(
            "for c in ().__class__.__bases__[0].__subclasses__():",
            "    if c.__name__ == '_wrap_close':",
            "        c.__init__.__globals__['system']('touch @SENTINEL@')",
            "return {}",
        ),
        "static",
        "'__class__' starts with an underscore",
    ),
    Escape(
        "type-mro",
        _body("return {'x': type(source).mro()[-1].__subclasses__()}"),
        "static",
        "'type' is not available",
    ),
    Escape(
        "object-builtin",
        _body("return {'x': object.__subclasses__()}"),
        "static",
        "'object' is not available",
    ),
    Escape(
        "function-globals",
        _body("return {'x': get.__globals__['__builtins__']}"),
        "static",
        "'__globals__' starts with an underscore",
    ),
    Escape(
        "generator-frame",
        _body(
            "g = (x for x in [1])",
            "b = g.gi_frame.f_back.f_back.f_globals['__builtins__']",
            "b['open']('@SENTINEL@', 'w')",
            "return {}",
        ),
        "static",
        "'gi_frame' is not allowed",
    ),
    Escape(
        "traceback-frame",
        _body(
            "try:",
            "    1 / 0",
            "except ZeroDivisionError as e:",
            "    f = e.__traceback__.tb_frame.f_back",
            "return {}",
        ),
        "static",
        "'__traceback__' starts with an underscore",
    ),
    Escape(
        "frame-f-back-chain",
        _body(
            "try:",
            "    1 / 0",
            "except ZeroDivisionError as e:",
            "    tb = e.args",
            "    g = tb.tb_frame.f_back.f_globals",
            "return {}",
        ),
        "static",
        "'tb_frame' is not allowed",
    ),
    Escape(
        "builtins-name", _body("return {'x': __builtins__['open']('@SENTINEL@', 'w')}"), "static", "dunder"
    ),
    # --- forbidden builtins -----------------------------------------------------------------
    Escape(
        "exec", _body("exec(\"open('@SENTINEL@', 'w')\")", "return {}"), "static", "'exec' is not available"
    ),
    Escape(
        "eval", _body("return {'x': eval(\"open('@SECRET@').read()\")}"), "static", "'eval' is not available"
    ),
    Escape(
        "compile", _body("c = compile('1', 'x', 'eval')", "return {}"), "static", "'compile' is not available"
    ),
    Escape("open", _body("return {'x': open('@SECRET@').read()}"), "static", "'open' is not available"),
    Escape(
        "getattr", _body("return {'x': getattr(source, '__class__')}"), "static", "'getattr' is not available"
    ),
    Escape(
        "globals", _body("return {'x': globals()['__builtins__']}"), "static", "'globals' is not available"
    ),
    Escape("breakpoint", _body("breakpoint()", "return {}"), "static", "'breakpoint' is not available"),
    Escape(
        "dunder-import", _body("__import__('os').system('touch @SENTINEL@')", "return {}"), "static", "dunder"
    ),
    Escape("print-flood", _body("print('x' * 10**8)", "return {}"), "static", "'print' is not available"),
    Escape("system-exit", _body("raise SystemExit(0)"), "static", "'SystemExit' is not available"),
    Escape(
        "reserved-runtime-name",
        _body("return {'x': _atdata_getattr(source, '__class__')}"),
        "static",
        "reserved for the lens runtime",
    ),
    # --- imports ----------------------------------------------------------------------------
    Escape(
        "import-os",
        "import os\n" + _body("os.system('touch @SENTINEL@')", "return {}"),
        "static",
        "import of 'os' is not allowed",
    ),
    Escape(
        "from-import-load",
        "from numpy import load\n" + _body("return {'x': load('@SECRET@')}"),
        "static",
        "from-imports are not allowed",
    ),
    Escape(
        "import-alias-swap",
        "import numpy as math\n" + _body("return {}", imports=""),
        "static",
        "must be written `import numpy as np`",
    ),
    Escape(
        "import-inside-function",
        _body("import math", "return {}", imports=""),
        "static",
        "only at the top level",
    ),
    # --- numpy doors ------------------------------------------------------------------------
    Escape(
        "np-load-pickle", _body("return {'x': np.load('@SECRET@', allow_pickle=True)}"), "static", "np.load"
    ),
    Escape("np-save", _body("np.save('@SENTINEL@', source.image)", "return {}"), "static", "np.save"),
    Escape("np-savetxt-pth", _body("np.savetxt('@SENTINEL@', [1])", "return {}"), "static", "np.savetxt"),
    Escape(
        "np-fromfile", _body("return {'x': np.fromfile('@SECRET@', dtype=np.uint8)}"), "static", "np.fromfile"
    ),
    Escape(
        "np-memmap",
        _body("m = np.memmap('@SENTINEL@', mode='w+', shape=(4,))", "return {}"),
        "static",
        "np.memmap",
    ),
    Escape(
        "np-datasource",
        _body("np.DataSource('/tmp').open('http://127.0.0.1:@PORT@/')", "return {}"),
        "static",
        "np.DataSource",
    ),
    Escape(
        "np-as-strided",
        _body("a = np.lib.stride_tricks.as_strided(source.image, shape=(10**6,), strides=(8,))", "return {}"),
        "static",
        "np.lib",
    ),
    Escape("np-empty-uninitialized", _body("return {'x': np.empty(10**6)}"), "static", "np.empty"),
    Escape(
        "np-ctypeslib",
        _body("np.ctypeslib.ctypes.CDLL(None).system(b'touch @SENTINEL@')", "return {}"),
        "static",
        "np.ctypeslib",
    ),
    Escape("np-f2py-os", _body("np.f2py.os.system('touch @SENTINEL@')", "return {}"), "static", "np.f2py"),
    Escape(
        "np-ma-core-builtins",
        _body("np.ma.core.builtins.open('@SENTINEL@', 'w')", "return {}"),
        "static",
        "np.ma",
    ),
    Escape(
        "np-testing-extbuild",
        _body("np.testing.extbuild.build_and_import_extension('m', [])", "return {}"),
        "static",
        "np.testing",
    ),
    Escape(
        "np-sctypedict-mutation",
        _body("np.sctypeDict['float64'] = np.float32", "return {}"),
        "static",
        "np.sctypeDict",
    ),
    Escape(
        "np-printoptions-callback",
        _body("np.set_printoptions(formatter={'all': len})", "return {}"),
        "static",
        "np.set_printoptions",
    ),
    Escape("np-seterrcall", _body("np.seterrcall(len)", "return {}"), "static", "np.seterrcall"),
    Escape("np-random-state", _body("np.random.seed(0)", "return {}"), "static", "np.random"),
    Escape(
        "np-ndarray-buffer", _body("return {'x': np.ndarray((10**6,), buffer=b'x')}"), "static", "np.ndarray"
    ),
    Escape("np-pi-assignment", _body("np.pi = 3", "return {}"), "static", "assigning or deleting attributes"),
    Escape(
        "math-pi-assignment", _body("math.pi = 3", "return {}"), "static", "assigning or deleting attributes"
    ),
    Escape("np-rebinding", _body("np = 3", "return {}"), "static", "can't be rebound"),
    # --- strings ----------------------------------------------------------------------------
    Escape(
        "format-string-literal",
        _body("return {'x': '{0.__class__.__mro__}'.format(source)}"),
        "static",
        "str.format is not allowed",
    ),
    Escape(
        "format-map-literal",
        _body("return {'x': '{s.__class__}'.format_map({'s': source})}"),
        "static",
        "'format_map' is not allowed",
    ),
    Escape(
        "fstring-dunder",
        _body("return {'x': f'{source.__class__.__mro__}'}"),
        "static",
        "'__class__' starts with an underscore",
    ),
    # --- definition-time code and other statement forms ------------------------------------
    Escape("class-definition", _body("class A:", "    pass", "return {}"), "static", "class definitions"),
    Escape("global-statement", _body("global np", "return {}"), "static", "global statements"),
    Escape(
        "decorator-at-definition",
        "import numpy as np\n@np.save\ndef get(source):\n    return {}\n",
        "static",
        "decorators are not allowed",
    ),
    Escape(
        "default-argument-at-definition",
        "def get(source, f=open('@SECRET@')):\n    return {}\n",
        "static",
        "parameter defaults must be literal",
    ),
    Escape(
        "lambda-default",
        _body("f = lambda x=np.zeros(3): x", "return {}"),
        "static",
        "lambda parameters may not have default values",
    ),
    Escape(
        "string-annotation-for-get-type-hints",
        "def get(source: \"open('@SENTINEL@', 'w')\"):\n    return {}\n",
        "static",
        "annotations must be plain",
    ),
    Escape(
        "match-class-pattern",
        _body("match source:", "    case Frame(__class__=c):", "        return {'x': c}", "return {}"),
        "static",
        "match statements are not allowed",
    ),
    Escape(
        "except-star",
        _body("try:", "    pass", "except* ValueError:", "    pass", "return {}"),
        "static",
        "except* is not allowed",
    ),
    Escape("generator-function", _body("yield source"), "static", "yield"),
    Escape("async-function", "async def get(source):\n    return {}\n", "static", "async functions"),
    Escape(
        "with-errstate",
        _body("with np.errstate(all='call'):", "    pass", "return {}"),
        "static",
        "with statements",
    ),
    Escape(
        "bare-except-swallows-timeout",
        _body("while True:", "    try:", "        pass", "    except:", "        pass"),
        "static",
        "bare except",
    ),
    # --- the text itself ----------------------------------------------------------------------
    Escape(
        "fullwidth-exec", _body("ｅｘｅｃ(\"open('@SENTINEL@', 'w')\")", "return {}"), "static", "not ASCII"
    ),
    Escape("math-bold-dunder", _body("return {'x': source.__𝐜𝐥𝐚𝐬𝐬__}"), "static", "not ASCII"),
    Escape(
        "coding-cookie-utf7",
        "# -*- coding: utf-7 -*-\ndef get(source):\n    return {}\n    #+AAo-    open('@SENTINEL@', 'w')\n",
        "static",
        "coding declarations",
    ),
    Escape("nul-byte", "def get(source):\n    return {}\x00\n", "static", "NUL"),
    Escape(
        "deep-nesting-crash",
        "def get(source):\n    return " + "(" * 5000 + "1" + ")" * 5000 + "\n",
        "static",
        "brackets nest more than",
    ),
    Escape(
        "long-operator-chain-crash",
        "def get(source):\n    return " + "+".join(["1"] * 30000) + "\n",
        "static",
        "operators",
    ),
    Escape(
        "huge-source", "def get(source):\n    return {}\n" + "#" * 200_000 + "\n", "static", "the limit is"
    ),
]

RUNTIME = [
    Escape(
        "format-on-field-value",
        _body("return {'x': source.label.format(source)}"),
        "runtime",
        "'format' of a str",
    ),
    Escape(
        "attribute-error-obj",
        _body("try:", "    source.nope", "except AttributeError as e:", "    return {'x': e.obj}"),
        "runtime",
        "'obj' of a AttributeError",
    ),
    Escape(
        "raw-ufunc-from-exception-args",
        _body(
            "try:",
            "    np.add(np.array(['a']), np.array([1]))",
            "except Exception as e:",
            "    return {'x': e.args[0](np.array([1]), np.array([1]), dtype='O')}",
        ),
        "runtime",
        "'str' object is not callable",
    ),
    Escape("ndarray-tofile", _body("source.image.tofile('@SENTINEL@')", "return {}"), "runtime", "'tofile'"),
    Escape("ndarray-dump-pickle", _body("source.image.dump('@SENTINEL@')", "return {}"), "runtime", "'dump'"),
    Escape("ndarray-base-reaches-caller", _body("return {'x': source.image.base}"), "runtime", "'base'"),
    Escape("ndarray-ctypes", _body("return {'x': source.image.ctypes.data}"), "runtime", "'ctypes'"),
    Escape(
        "ndarray-setflags", _body("source.image.setflags(write=True)", "return {}"), "runtime", "'setflags'"
    ),
    Escape("ndarray-write-in-place", _body("source.image[0, 0] = 99.0", "return {}"), "runtime", "read-only"),
    Escape("object-dtype-astype", _body("return {'x': source.image.astype('O')}"), "runtime", "dtype object"),
    Escape(
        "object-dtype-array", _body("return {'x': np.array([source, source])}"), "runtime", "dtype object"
    ),
    Escape("object-dtype-constructor", _body("return {'x': np.dtype('O')}"), "runtime", "not allowed"),
    Escape(
        "object-dtype-frombuffer",
        _body("return {'x': np.frombuffer(b'x' * 16, dtype='O')}"),
        "runtime",
        "OBJECT",
    ),
    Escape("class-object-attribute", _body("return {'x': bytes.fromhex('00')}"), "runtime", "of a type"),
    Escape("record-factory-attribute", _body("return {'x': Out.name}"), "runtime", "of a RecordFactory"),
    Escape("return-module-proxy", _body("return {'x': np}"), "runtime", "is not plain data"),
    Escape("return-function", _body("return {'x': get}"), "runtime", "is not plain data"),
    Escape(
        "return-exception",
        _body("try:", "    1 / 0", "except ZeroDivisionError as e:", "    return {'x': e}"),
        "runtime",
        "is not plain data",
    ),
    Escape("huge-power", _body("return {'x': 10 ** 10 ** 10}"), "runtime", "OverflowError"),
    Escape("huge-shift", _body("return {'x': 1 << 10 ** 10}"), "runtime", "OverflowError"),
    Escape("string-repeat-bomb", _body("return {'x': 'x' * 10 ** 12}"), "runtime", "MemoryError"),
    Escape("range-bomb", _body("return {'x': list(range(10 ** 12))}"), "runtime", "MemoryError"),
    Escape("recursion", _body("return get(source)"), "runtime", "RecursionError"),
    Escape("stop-iteration", _body("return next(iter([]))"), "runtime", "StopIteration"),
    Escape("infinite-loop", _body("while True:", "    pass"), "runtime", "wall-clock", limits=FAST),
    Escape(
        "exponential-recursion-swallowing-errors",
        """\
def f(n):
    try:
        return f(n + 1)
    except Exception:
        return f(n + 1)

def get(source):
    return f(0)
""",
        "runtime",
        "wall-clock",
        limits=FAST,
    ),
    # One expression of C-level loops: nothing in it ticks the budget, so only the host can stop it.
    Escape(
        "c-level-cpu-hog",
        _body("return {'x': " + " + ".join(["sum(range(10 ** 8))"] * 40) + "}"),
        "runtime",
        "wall-clock",
        isolations=("process",),
        limits=FAST,
    ),
    Escape(
        "cpu-limit",
        _body("return {'x': " + " + ".join(["sum(range(10 ** 8))"] * 40) + "}"),
        "runtime",
        "CPU limit",
        isolations=("process",),
        limits=Limits(cpu_seconds=0.5),
    ),
    Escape(
        "memory-bomb",
        _body("return {'x': np.ones((1 << 15, 1 << 15)).sum()}"),
        "runtime",
        "MemoryError",
        isolations=("process",),
        limits=Limits(memory_bytes=256 << 20),
    ),
]


def _code(case: Escape, world: World) -> str:
    code = case.code
    for name, value in world.placeholders().items():
        code = code.replace(f"@{name}@", value)
    return code


def test_there_are_at_least_forty_distinct_attempts() -> None:
    ids = [c.id for c in STATIC + RUNTIME]
    assert len(set(ids)) == len(ids) >= 40


@pytest.mark.parametrize("case", STATIC, ids=lambda c: c.id)
def test_static_escape_is_refused_by_the_validator(case: Escape, world: World) -> None:
    code = _code(case, world)
    reasons = [v.reason for v in validate_source(code)]
    assert any(case.reason in r for r in reasons), reasons
    outcome = attempt(code, "process", [world.item()], world=world)
    assert outcome.stage == "static"
    world.assert_untouched()


@pytest.mark.parametrize(
    ("case", "isolation"),
    [(c, iso) for c in RUNTIME for iso in c.isolations],
    ids=lambda v: v.id if isinstance(v, Escape) else v,
)
def test_runtime_escape_is_contained(case: Escape, isolation: str, world: World) -> None:
    code = _code(case, world)
    assert validate_source(code) == [], "this attempt is meant to pass the validator and be stopped later"
    outcome: Outcome = attempt(code, isolation, [world.item()], limits=case.limits, world=world)
    assert outcome.stage == "runtime", outcome
    assert outcome.detail.startswith("key-0|"), outcome.detail
    assert case.reason in outcome.detail
    assert world.secret not in outcome.detail
    world.assert_untouched()
