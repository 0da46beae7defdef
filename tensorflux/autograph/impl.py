"""Which functions AutoGraph converts, and the conversion itself: source to syntax tree
(tensorflux.autograph.transformer), tree to code object, code object to a function that
shares the original's globals, closure cells and defaults. Converted code is cached per
code object and per function; the transformer loads only when a user function is first
converted, so tracing library code (a Keras train step) never pays for it."""

import functools
import inspect
import os
import sys
import textwrap
import types
import weakref

__all__ = ["converted_call", "for_trace", "to_graph", "to_code", "do_not_convert",
           "set_verbosity", "trace"]

# Packages whose functions run as they are, as TensorFlow's AutoGraph leaves its own code,
# NumPy's and the other libraries it lists unconverted (as are the standard library and
# every installed package, wherever these live).
_DO_NOT_CONVERT = frozenset({
    "tensorflux", "numpy", "tensorflow", "keras", "tf_keras", "scipy", "pandas", "matplotlib",
    "PIL", "absl", "torch", "jax"})

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_verbosity = {"level": 0, "stdout": False}
_unconverted = object()  # cache marker: the function runs as it is
_functions = {True: weakref.WeakKeyDictionary(), False: weakref.WeakKeyDictionary()}
_codes = {True: weakref.WeakKeyDictionary(), False: weakref.WeakKeyDictionary()}
_converted_codes = weakref.WeakSet()  # code objects that conversion produced


# ------------------------------------------------------------------ what gets converted

def _is_user_code(fn):
    filename = fn.__code__.co_filename
    if filename.startswith("<doctest "):
        return True  # an example in a docstring (its module is the one it documents)
    # Where the code lives says whether it is tensorflux's: a wrapper made with
    # functools.wraps carries the module name of what it wraps.
    if filename.startswith(_PACKAGE_DIR):
        return False
    top = (getattr(fn, "__module__", None) or "__main__").partition(".")[0]
    if top in _DO_NOT_CONVERT or top in sys.stdlib_module_names:
        return False
    # Installed packages run as written; what is converted is the user's own code.
    parts = os.path.normpath(filename).split(os.sep)
    return "site-packages" not in parts and "dist-packages" not in parts


def _resolve(f, recursive=True):
    """The callable that runs `f` converted (f itself when nothing is converted)."""
    if isinstance(f, types.FunctionType):
        return _converted_function(f, recursive)
    if isinstance(f, types.MethodType):
        func = f.__func__
        if isinstance(func, types.FunctionType):
            converted = _converted_function(func, recursive)
            return f if converted is func else types.MethodType(converted, f.__self__)
        return f
    if isinstance(f, functools.partial):
        inner = _resolve(f.func, recursive)
        return f if inner is f.func else functools.partial(inner, *f.args, **f.keywords)
    if isinstance(f, type) or not callable(f):
        return f
    call = next((vars(k)["__call__"] for k in type(f).__mro__ if "__call__" in vars(k)), None)
    if isinstance(call, types.FunctionType):
        converted = _converted_function(call, recursive)
        if converted is not call:
            return types.MethodType(converted, f)
    return f


def converted_call(f, args, kwargs):
    """Calls f(*args, **kwargs) from converted code: user functions run converted (as
    TensorFlow's recursive conversion does); builtins AutoGraph overloads (range, len, int,
    float) act on tensors; anything else is called as is."""
    overload = _builtin_overloads().get(id(f))
    if overload is not None:
        return overload(*args, **(kwargs or {}))
    target = _resolve(f)
    if kwargs:
        return target(*args, **kwargs)
    return target(*args)


def for_trace(fn):
    """What tf.function traces for `fn` when autograph=True: its converted form, or fn."""
    return _resolve(fn)


@functools.cache
def _builtin_overloads():
    """id -> replacement, for the builtins AutoGraph overloads and for tensorflux's
    higher-order functions, whose function arguments TensorFlow converts too."""
    from tensorflux import control
    from tensorflux.autograph import operators
    from tensorflux.graph import control_flow

    found = {id(range): operators.range_, id(len): operators.len_, id(int): operators.int_,
             id(float): operators.float_, id(enumerate): operators.enumerate_}
    for higher_order in (control_flow.cond, control_flow.while_loop, control.map_fn,
                         control.scan, control.switch_case):
        found[id(higher_order)] = _converting_arguments(higher_order)
    return found


def _converting_arguments(f):
    def call(*args, **kwargs):
        return f(*[_converted_argument(a) for a in args],
                 **{k: _converted_argument(v) for k, v in kwargs.items()})
    return call


def _converted_argument(value):
    """A function argument converted; lists, tuples and dicts of them (switch_case's
    branches) too."""
    if isinstance(value, (types.FunctionType, types.MethodType, functools.partial)):
        return _resolve(value)
    if isinstance(value, (list, tuple)) and any(callable(v) for v in value):
        return type(value)(_converted_argument(v) for v in value)
    if isinstance(value, dict) and any(callable(v) for v in value.values()):
        return {k: _converted_argument(v) for k, v in value.items()}
    return value


# ------------------------------------------------------------------ conversion

def _converted_function(fn, recursive):
    cache = _functions[recursive]
    found = cache.get(fn)
    if found is None:
        found = _convert(fn, recursive)
        cache[fn] = _unconverted if found is fn else found
    return fn if found is _unconverted else found


def _convert(fn, recursive):
    code = fn.__code__
    if code in _converted_codes or not _is_user_code(fn) or getattr(
            fn, "__tensorflux_do_not_convert__", False):
        return fn
    if code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE |
                        inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE):
        return fn
    codes = _codes[recursive]
    converted = codes.get(code)
    if converted is None:
        try:
            converted = _compile(fn, recursive)
        except Exception as error:  # noqa: BLE001 - any failure leaves the function as is
            _log(0, f"AutoGraph could not transform {fn!r} and will run it as-is. "
                    f"Cause: {type(error).__name__}: {error}", warning=True)
            converted = _unconverted
        codes[code] = converted
    if converted is _unconverted:
        return fn
    return _instantiate(fn, converted)


def _compile(fn, recursive):
    """The converted code object of fn (the transformer's output compiled in a factory
    function whose locals stand for fn's free variables and `ag__`)."""
    import ast

    from tensorflux.autograph import transformer

    node, first_line = _parse(fn)
    transformer.check_convertible(node)
    namer = transformer.Namer(node)
    transformer.convert_scope(node, namer, recursive)
    # Defined under a name of its own in the factory: its own name, which the function may
    # use (recursion), must stay a global (or a free variable of the original).
    result = "__autograph_converted__"
    if isinstance(node, ast.Lambda):
        node = ast.Assign(targets=[ast.Name(id=result, ctx=ast.Store())], value=node)
    else:
        node.decorator_list = []
        node.name = result
    factory_locals = [transformer.AG, *fn.__code__.co_freevars]
    factory = ast.FunctionDef(
        name="__autograph_factory__", args=transformer._no_args(),
        body=[ast.Assign(targets=[ast.Name(id=n, ctx=ast.Store())], value=ast.Constant(None))
              for n in factory_locals] + [node, ast.Return(ast.Name(id=result,
                                                                    ctx=ast.Load()))],
        decorator_list=[], returns=None, type_comment=None,
        **({"type_params": []} if "type_params" in ast.FunctionDef._fields else {}))
    module = ast.Module(body=[factory], type_ignores=[])
    ast.fix_missing_locations(module)
    ast.increment_lineno(module, first_line - 1)
    source_code = compile(module, fn.__code__.co_filename, "exec")
    factory_code = next(c for c in source_code.co_consts if isinstance(c, types.CodeType))
    code = next(c for c in factory_code.co_consts if isinstance(c, types.CodeType))
    renamed = {"co_name": fn.__code__.co_name}
    if hasattr(code, "co_qualname"):
        renamed["co_qualname"] = fn.__code__.co_qualname
    code = code.replace(**renamed)
    _remember(code)
    if _verbosity["level"] >= 3:
        _log(3, f"Converted {fn!r}:\n{ast.unparse(node)}")
    return code


def _parse(fn):
    """The syntax tree of fn's definition (a FunctionDef or Lambda) and its first line."""
    import ast

    code = fn.__code__
    if code.co_name == "<lambda>":
        return _parse_lambda(fn)
    # The code object's source: the function's own, not that of the function a
    # functools.wraps wrapper names in __wrapped__.
    lines, first_line = inspect.getsourcelines(code)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or \
            node.name != code.co_name or _parameter_names(node.args) != _code_parameters(code):
        # (e.g. a wrapper generated at run time that borrows its target's file and line)
        raise ValueError(f"the source found for {fn.__name__} does not define it")
    return node, first_line


def _parameter_names(args):
    names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    return tuple(names + [a.arg for a in (args.vararg, args.kwarg) if a is not None])


def _code_parameters(code):
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
    return tuple(code.co_varnames[:count])


def _parse_lambda(fn):
    """A lambda's node, found among the lambdas that start on its first line (each cut
    where its expression ends); the one whose parameters and body column match the code
    object's is it."""
    import ast

    code = fn.__code__
    lines, first_line = inspect.getsourcelines(code)
    text = "".join(lines[code.co_firstlineno - first_line:])
    params = code.co_varnames[:code.co_argcount + code.co_posonlyargcount +
                              code.co_kwonlyargcount]
    body_columns = [c for line, _, c, end in getattr(code, "co_positions", lambda: ())()
                    if line == code.co_firstlineno and c is not None and (c, end) != (0, 0)]
    found = []
    for column, source in _lambda_sources(text):
        try:
            node = ast.parse(f"({source}\n)").body[0].value
        except SyntaxError:
            continue
        if not isinstance(node, ast.Lambda):
            continue
        names = tuple(a.arg for a in [*node.args.posonlyargs, *node.args.args,
                                      *node.args.kwonlyargs])
        if names != tuple(params):
            continue
        if body_columns and node.body.lineno == 1 and \
                column + node.body.col_offset - 1 != min(body_columns):
            continue
        found.append(node)
    if len(found) != 1:
        raise ValueError("could not tell which lambda of its line this is" if found else
                         "could not find the lambda in its source")
    return found[0], code.co_firstlineno


def _lambda_sources(text):
    """(column, source) of each lambda that starts on text's first line: its tokens up to
    the comma, closing bracket, `for` or end of statement that ends it."""
    import io
    import tokenize

    tokens = []
    try:
        tokens.extend(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        pass  # a fragment of a larger statement: the tokens read so far are enough
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(position):
        return starts[position[0] - 1] + position[1]

    for k, token in enumerate(tokens):
        if token.type != tokenize.NAME or token.string != "lambda" or token.start[0] != 1:
            continue
        depth, in_body, end = 0, False, len(text)
        for later in tokens[k + 1:]:
            kind, string = later.type, later.string
            if kind == tokenize.OP and string in "([{":
                depth += 1
            elif kind == tokenize.OP and string in ")]}":
                if depth == 0:
                    end = offset(later.start)
                    break
                depth -= 1
            elif depth == 0 and not in_body and kind == tokenize.OP and string == ":":
                in_body = True
            elif depth == 0 and in_body and (
                    (kind == tokenize.OP and string in (",", ";")) or
                    kind in (tokenize.NEWLINE, tokenize.ENDMARKER) or
                    (kind == tokenize.NAME and string in ("for", "async"))):
                end = offset(later.start)
                break
        yield token.start[1], text[offset(token.start):end]


def _remember(code):
    """Records code and the function code objects nested in it as produced by conversion,
    so that converted_call runs them as they are (classes' bodies are not converted)."""
    _converted_codes.add(code)
    for const in code.co_consts:
        if isinstance(const, types.CodeType) and const.co_flags & inspect.CO_OPTIMIZED:
            _remember(const)


def _instantiate(fn, code):
    """A function running `code` with fn's globals, defaults and closure cells (the cells
    themselves, so later rebinding of closed-over variables is seen)."""
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    from tensorflux.autograph import operators

    cells["ag__"] = types.CellType(operators)
    closure = tuple(cells[name] for name in code.co_freevars)
    converted = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__,
                                   closure or None)
    converted.__kwdefaults__ = fn.__kwdefaults__
    converted.__dict__.update(fn.__dict__)
    converted.__qualname__ = fn.__qualname__
    converted.__module__ = fn.__module__
    converted.__doc__ = fn.__doc__
    converted.__wrapped__ = fn
    return converted


# ------------------------------------------------------------------ public API

def to_graph(entity, recursive=True, experimental_optional_features=None):
    """The converted form of a function or method: Python control flow on tensors becomes
    tf.cond / tf.while_loop when the result runs inside a tf.function (plain Python
    otherwise). With recursive=False the functions it calls are not converted.

    >>> import tensorflux as tf
    >>> def f(x):
    ...     return x if x > 0 else -x
    >>> g = tf.function(tf.autograph.to_graph(f), autograph=False)
    >>> float(g(tf.constant(-3.0)))
    3.0
    """
    if not callable(entity):
        raise TypeError(f"to_graph: expected a function or method, received {entity!r}")
    converted = _resolve(entity, bool(recursive))
    if converted is entity and isinstance(entity, types.FunctionType) and \
            _is_user_code(entity) and entity.__code__ not in _converted_codes:
        raise ValueError(f"to_graph: could not convert {entity!r} (see the logged cause)")
    return converted


def to_code(entity, recursive=True, experimental_optional_features=None):
    """The Python source of a function's converted form, as a string.

    >>> import tensorflux as tf
    >>> def f(x):
    ...     return x if x > 0 else -x
    >>> "ag__.if_exp" in tf.autograph.to_code(f)
    True
    """
    import ast

    from tensorflux.autograph import transformer

    fn = entity.__func__ if isinstance(entity, types.MethodType) else entity
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"to_code: expected a Python function, received {entity!r}")
    node, _ = _parse(fn)
    transformer.check_convertible(node)
    transformer.convert_scope(node, transformer.Namer(node), bool(recursive))
    if not isinstance(node, ast.Lambda):
        node.decorator_list = []
    return ast.unparse(node) + "\n"


def do_not_convert(func=None):
    """A decorator: func always runs as written, never converted by AutoGraph (nor are the
    functions it calls).

    >>> import tensorflux as tf
    >>> @tf.autograph.experimental.do_not_convert
    ... def f(x):
    ...     return x
    >>> float(tf.function(f)(tf.constant(1.0)))
    1.0
    """
    if func is None:
        return do_not_convert

    @functools.wraps(func)
    def unconverted(*args, **kwargs):
        return func(*args, **kwargs)

    unconverted.__tensorflux_do_not_convert__ = True
    return unconverted


def set_verbosity(level, alsologtostdout=False):
    """How much AutoGraph logs: 0 only failed conversions (warnings), 3 and up also the
    converted source of each function."""
    _verbosity["level"] = int(level)
    _verbosity["stdout"] = bool(alsologtostdout)


def trace(*args):
    """Prints its arguments when the code runs in Python, which in a tf.function is while
    it is traced (tf.print prints at every call)."""
    print(*args)


def _log(level, message, warning=False):
    if level > _verbosity["level"]:
        return
    import logging

    logger = logging.getLogger("tensorflux.autograph")
    (logger.warning if warning else logger.info)(message)
    if _verbosity["stdout"]:
        print(message)
