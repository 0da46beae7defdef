"""AutoGraph's source transformation: a function's syntax tree rewritten so that its `if`,
`while` and `for` statements, `and`/`or`/`not`, conditional expressions and calls go through
the runtime helpers of tensorflux.autograph.operators (named `ag__` in converted code).

A statement becomes functions over the variables it may change: `if_body`/`else_body` or
`loop_body` (which declare those variables `nonlocal`, so that run as plain Python they do
exactly what the statement did), and `get_state`/`set_state`, through which a helper that
stages tf.cond or tf.while_loop reads and rebinds them. Before that, `return` statements
inside control flow, `break` and `continue` become assignments to flags that later code and
loop conditions test, as TensorFlow's AutoGraph does. Which variables a staged statement
carries comes from static analysis of the function: the names it assigns that are used
after it (or, for a loop, in a later iteration); the others stay local to its branch or
iteration.
"""

import ast

AG = "ag__"  # the name converted code calls the runtime helpers by

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_LOOPS = (ast.For, ast.While)
# Calls left as they are: they act on the calling frame, which a wrapper would change.
_FRAME_CALLS = {"super", "locals", "globals", "vars", "eval", "exec"}
_MATCH_NAMES = tuple(getattr(ast, n) for n in ("MatchAs", "MatchStar", "MatchMapping")
                     if hasattr(ast, n))


class NotConvertibleError(Exception):
    """The function uses a construct the converter leaves alone (it then runs as is)."""


# ------------------------------------------------------------------ names in one scope

def _walk_scope(node):
    """The nodes under `node` that belong to its scope (nested functions, lambdas and
    classes are not entered; comprehensions are, as their expressions run here)."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, _SCOPES):
            yield from _walk_scope(child)


def bound_names(nodes):
    """The names a list of statements (or expressions) binds in the scope it runs in (a
    comprehension's own variables excluded)."""
    found = set()

    def visit(node):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                found.add(node.id)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.comprehension):
            for part in (node.iter, *node.ifs):
                visit(part)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in node.names
                         if a.name != "*")
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
        elif isinstance(node, _MATCH_NAMES):
            name = getattr(node, "name", None) or getattr(node, "rest", None)
            if name:
                found.add(name)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for top in nodes:
        visit(top)
    return found


def _parameters(args):
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    return {a.arg for a in every}


def read_names(node):
    """The names `node` reads from its scope, including the free names of the functions,
    lambdas and comprehensions inside it (read when they run, approximated as here)."""
    found = set()

    def visit(n, hidden):
        if isinstance(n, ast.Name):
            if isinstance(n.ctx, ast.Load) and n.id not in hidden:
                found.add(n.id)
            return
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            outer = [*n.args.defaults, *[d for d in n.args.kw_defaults if d is not None]]
            outer += getattr(n, "decorator_list", [])
            for d in outer:
                visit(d, hidden)
            body = n.body if isinstance(n.body, list) else [n.body]
            inner = hidden | _parameters(n.args) | bound_names(body)
            for s in body:
                visit(s, inner)
            return
        if isinstance(n, ast.ClassDef):
            for d in [*n.decorator_list, *n.bases, *[k.value for k in n.keywords]]:
                visit(d, hidden)
            inner = hidden | bound_names(n.body)
            for s in n.body:
                visit(s, inner)
            return
        if isinstance(n, _COMPREHENSIONS):
            inner = hidden | bound_names([g.target for g in n.generators])
            for child in ast.iter_child_nodes(n):
                visit(child, inner)
            return
        for child in ast.iter_child_nodes(n):
            visit(child, hidden)

    visit(node, frozenset())
    return found


def _reads_of(nodes):
    found = set()
    for n in nodes:
        if n is not None:
            found |= read_names(n)
    return found


def modified_names(stmt):
    """The names an if/while/for statement may rebind (its test or iterable included)."""
    if isinstance(stmt, ast.If):
        return bound_names([stmt.test, *stmt.body, *stmt.orelse])
    if isinstance(stmt, ast.While):
        return bound_names([stmt.test, *stmt.body, *stmt.orelse])
    return bound_names([stmt.target, *stmt.body, *stmt.orelse])


class Namer:
    """New names that clash with none of the function's own."""

    def __init__(self, tree):
        self.used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        self.used |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
        self.used |= {n.name for n in ast.walk(tree)
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        if AG in self.used:
            raise NotConvertibleError(f"the function uses the name {AG!r}, which converted "
                                      "code needs")

    def new(self, base):
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name


# ------------------------------------------------------------------ building nodes

def _load(name):
    return ast.Name(id=name, ctx=ast.Load())


def _store(name):
    return ast.Name(id=name, ctx=ast.Store())


def _helper(attr):
    return ast.Attribute(value=_load(AG), attr=attr, ctx=ast.Load())


def _call(attr, *args):
    return ast.Call(func=_helper(attr), args=list(args), keywords=[])


def _assign(name, value):
    return ast.Assign(targets=[_store(name)], value=value)


def _strings(names):
    return ast.Tuple(elts=[ast.Constant(n) for n in names], ctx=ast.Load())


def _thunk(expr):
    return ast.Lambda(args=_no_args(), body=expr)


def _no_args(*names):
    return ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in names], vararg=None,
                         kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])


def _def(name, body, params=()):
    return ast.FunctionDef(name=name, args=_no_args(*params), body=body or [ast.Pass()],
                           decorator_list=[], returns=None, type_comment=None,
                           **({"type_params": []} if "type_params" in
                              ast.FunctionDef._fields else {}))


def _not(name):
    return ast.UnaryOp(op=ast.Not(), operand=_load(name))


def _guarded(flag, stmts):
    """`if not flag: stmts` (nothing when there are no statements)."""
    return [ast.If(test=_not(flag), body=stmts, orelse=[])] if stmts else []


def _located(nodes, origin):
    """Gives generated nodes the source position of the statement they stand for, so that
    tracebacks point into the user's file."""
    for top in nodes:
        for node in ast.walk(top):
            if "lineno" in node._attributes and not hasattr(node, "lineno"):
                node.lineno = node.end_lineno = origin.lineno
                node.col_offset = node.end_col_offset = origin.col_offset
    return nodes


def _contains(stmts, kinds, through_loops=True):
    """Whether a statement of `kinds` occurs in stmts, in this scope (and, unless
    through_loops is False, not inside a nested loop)."""
    for stmt in stmts:
        if isinstance(stmt, kinds):
            return True
        if isinstance(stmt, _SCOPES) or (not through_loops and isinstance(stmt, _LOOPS)):
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(stmt, field, None)
            if children and _contains(children, kinds, through_loops):
                return True
    return False


# ------------------------------------------------------------------ return statements

class _Returns:
    """Rewrites the returns of a function whose returns sit inside if/while/for into
    `do_return = True; retval_ = value`, guarding what follows with `if not do_return`
    (or, after an `if` one of whose branches always returns, moving it into the other
    branch, which keeps both branches of a staged tf.cond returning), and ending the
    function with one `return`."""

    def __init__(self, namer):
        self.flag = namer.new("do_return")
        self.value = namer.new("retval_")

    def function(self, node):
        body = self.block(node.body)
        head = [_assign(self.flag, ast.Constant(False)),
                _assign(self.value, _call("UndefinedReturnValue"))]
        tail = [ast.Return(value=_call("retval", _load(self.value)))]
        node.body = _located(head, node.body[0]) + body + _located(tail, node.body[-1])

    def block(self, stmts):
        out = []
        for k, stmt in enumerate(stmts):
            rest = stmts[k + 1:]
            if isinstance(stmt, ast.Return):
                value = stmt.value if stmt.value is not None else ast.Constant(None)
                out += _located([_assign(self.flag, ast.Constant(True)),
                                 _assign(self.value, value)], stmt)
                return out
            if not _contains([stmt], ast.Return):
                out.append(stmt)
                continue
            if isinstance(stmt, ast.If):
                body_returns, else_returns = _always_returns(stmt.body), _always_returns(
                    stmt.orelse)
                if body_returns and not else_returns:
                    stmt.orelse, rest = stmt.orelse + rest, []
                elif else_returns and not body_returns:
                    stmt.body, rest = stmt.body + rest, []
                elif body_returns and else_returns:
                    rest = []
                stmt.body, stmt.orelse = self.block(stmt.body), self.block(stmt.orelse)
            elif isinstance(stmt, _LOOPS):
                stmt.body = self.block(stmt.body)
                _add_loop_flag(stmt, self.flag)
                stmt.orelse = _located(_guarded(self.flag, self.block(stmt.orelse)), stmt)
            else:  # with, try, match
                for field in ("body", "orelse", "finalbody"):
                    if getattr(stmt, field, None):
                        setattr(stmt, field, self.block(getattr(stmt, field)))
                for part in getattr(stmt, "handlers", []) + getattr(stmt, "cases", []):
                    part.body = self.block(part.body)
            out.append(stmt)
            if _always_returns([stmt]):
                return out
            out += _located(_guarded(self.flag, self.block(rest)), stmt)
            return out
        return out


def _always_returns(stmts):
    for stmt in stmts:
        if isinstance(stmt, ast.Return):
            return True
        if isinstance(stmt, ast.If) and _always_returns(stmt.body) and \
                _always_returns(stmt.orelse):
            return True
        if isinstance(stmt, ast.With) and _always_returns(stmt.body):
            return True
    return False


def _returns_in_control_flow(stmts, inside=False):
    for stmt in stmts:
        if isinstance(stmt, ast.Return) and inside:
            return True
        if isinstance(stmt, _SCOPES):
            continue
        nested = inside or isinstance(stmt, (ast.If, ast.For, ast.While))
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(stmt, field, None)
            if children and _returns_in_control_flow(children, nested):
                return True
    return False


def _add_loop_flag(loop, flag):
    """Makes the loop stop once `flag` is set: a while loop's test gets `not flag and`,
    a for loop gets (or extends) its extra test."""
    if isinstance(loop, ast.While):
        loop.test = ast.BoolOp(op=ast.And(), values=[_not(flag), loop.test])
        _located([loop.test], loop)
    else:
        extra = getattr(loop, "ag_extra_test", None)
        test = _not(flag) if extra is None else ast.BoolOp(op=ast.And(),
                                                           values=[_not(flag), extra])
        loop.ag_extra_test = _located([test], loop)[0]


# ------------------------------------------------------------------ break and continue

class _BlockRewriter:
    """A pass over one scope's statements: `statement(stmt)` gives the statements that replace
    `stmt`, after `nested_blocks` has rewritten the blocks inside it (nested function and class
    bodies are scopes of their own, left alone)."""

    def block(self, stmts):
        out = []
        for stmt in stmts:
            out += self.statement(stmt)
        return out

    def nested_blocks(self, stmt):
        for field in ("body", "orelse", "finalbody"):
            if getattr(stmt, field, None):
                setattr(stmt, field, self.block(getattr(stmt, field)))
        for part in getattr(stmt, "handlers", []) + getattr(stmt, "cases", []):
            part.body = self.block(part.body)


class _Jumps(_BlockRewriter):
    """Rewrites `break` and `continue` into flag assignments and guards, innermost loop
    first; a loop's `else:` moves after it (guarded by the break flag when it has one).
    A `set_loop_options(...)` call at the top of a loop body becomes that loop's options."""

    def __init__(self, namer):
        self.namer = namer

    def statement(self, stmt):
        if isinstance(stmt, _SCOPES):
            return [stmt]
        self.nested_blocks(stmt)
        if not isinstance(stmt, _LOOPS):
            return [stmt]
        before, after = [], []
        self._loop_options(stmt)
        if _contains(stmt.body, ast.Continue, through_loops=False):
            flag = self.namer.new("continue_")
            stmt.body = [_assign(flag, ast.Constant(False))] + _rewrite_jumps(
                stmt.body, ast.Continue, flag)
        orelse, stmt.orelse = stmt.orelse, []
        if _contains(stmt.body, ast.Break, through_loops=False):
            flag = self.namer.new("break_")
            stmt.body = _rewrite_jumps(stmt.body, ast.Break, flag)
            before.append(_assign(flag, ast.Constant(False)))
            _add_loop_flag(stmt, flag)
            after = _guarded(flag, orelse)
        else:
            after = orelse
        return _located(before, stmt) + [stmt] + _located(after, stmt)

    @staticmethod
    def _loop_options(loop):
        options = []
        while loop.body and _is_loop_options(loop.body[0]):
            options.append(loop.body.pop(0).value)
        if not loop.body:
            loop.body = _located([ast.Pass()], loop)
        if options:
            call = options[-1]
            loop.ag_options = _located([ast.Call(func=_helper("loop_options"), args=call.args,
                                                 keywords=call.keywords)], loop)[0]


def _is_loop_options(stmt):
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    func = stmt.value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name == "set_loop_options"


def _rewrite_jumps(stmts, kind, flag):
    """stmts with each `kind` statement (of this loop) replaced by `flag = True`, and the
    statements after one that may have set it guarded by `if not flag`."""
    out = []
    for k, stmt in enumerate(stmts):
        if isinstance(stmt, kind):
            out += _located([_assign(flag, ast.Constant(True))], stmt)
            return out
        if isinstance(stmt, (*_SCOPES, *_LOOPS)) or not _contains([stmt], kind, False):
            out.append(stmt)
            continue
        for field in ("body", "orelse", "finalbody"):
            if getattr(stmt, field, None):
                setattr(stmt, field, _rewrite_jumps(getattr(stmt, field), kind, flag))
        for part in getattr(stmt, "handlers", []) + getattr(stmt, "cases", []):
            part.body = _rewrite_jumps(part.body, kind, flag)
        out.append(stmt)
        out += _located(_guarded(flag, _rewrite_jumps(stmts[k + 1:], kind, flag)), stmt)
        return out
    return out


# ------------------------------------------------------------------ static analysis

class _Liveness:
    """Backward liveness over the structured statements of one scope: records, on each
    if/while/for, the names live after it (`ag_live_out`) and, on loops, the names live at
    the top of each iteration (`ag_live_head`)."""

    def block(self, stmts, out):
        live = set(out)
        for stmt in reversed(stmts):
            live = self.statement(stmt, live)
        return live

    def statement(self, stmt, out):
        if isinstance(stmt, ast.If):
            stmt.ag_live_out = set(out)
            return read_names(stmt.test) | self.block(stmt.body, out) | self.block(
                stmt.orelse, out)
        if isinstance(stmt, _LOOPS):
            return self._loop(stmt, out)
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            final = self.block(stmt.finalbody, out)
            handlers = set()
            for handler in stmt.handlers:
                handlers |= (self.block(handler.body, final) - {handler.name}) | _reads_of(
                    [handler.type])
            body = self.block(stmt.body, self.block(stmt.orelse, final) | handlers)
            return body | handlers | final
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            targets = [i.optional_vars for i in stmt.items if i.optional_vars is not None]
            inner = self.block(stmt.body, out) - bound_names(targets)
            return inner | _reads_of([i.context_expr for i in stmt.items]) | _reads_of(targets)
        if isinstance(stmt, (ast.Return, ast.Raise)):
            return read_names(stmt)
        if type(stmt).__name__ == "Match":
            live = set()
            for case in stmt.cases:
                live |= self.block(case.body, out) | read_names(case.pattern) | _reads_of(
                    [case.guard])
            return live | read_names(stmt.subject) | out
        if isinstance(stmt, ast.AugAssign):
            return (out - bound_names([stmt.target])) | read_names(stmt.value) | _reads_of(
                [stmt.target]) | ({stmt.target.id} if isinstance(stmt.target, ast.Name) else
                                  set())
        return (out - bound_names([stmt])) | read_names(stmt)

    def _loop(self, loop, out):
        loop.ag_live_out = set(out)
        extra = [getattr(loop, "ag_extra_test", None), getattr(loop, "ag_options", None)]
        head = set()
        while True:
            if isinstance(loop, ast.While):
                new = read_names(loop.test) | self.block(loop.body, head) | out
            else:
                targets = bound_names([loop.target])
                new = (self.block(loop.body, head) - targets) | _reads_of(
                    [loop.target]) | out
            new |= _reads_of(extra)
            if new == head:
                break
            head = new
        loop.ag_live_head = head
        return head | (read_names(loop.iter) if isinstance(loop, ast.For) else set())


class _Definitions:
    """Forward analysis of the names certainly bound before each statement of one scope
    (`ag_defined`): a name staged control flow must carry but that may be unbound there
    starts as an `Undefined` placeholder, and its reads are checked."""

    def block(self, stmts, defined):
        for stmt in stmts:
            stmt.ag_defined = frozenset(defined) if defined is not None else frozenset()
            if defined is not None:
                defined = self.statement(stmt, set(defined))
            else:
                self.statement(stmt, set())
        return defined

    def statement(self, stmt, defined):
        if isinstance(stmt, ast.If):
            defined |= bound_names([stmt.test])
            return _meet(self.block(stmt.body, defined), self.block(stmt.orelse, defined))
        if isinstance(stmt, ast.While):
            defined |= bound_names([stmt.test])
            self.block(stmt.body, defined)
            self.block(stmt.orelse, defined)
            return defined
        if isinstance(stmt, ast.For):
            self.block(stmt.body, defined | bound_names([stmt.target]))
            self.block(stmt.orelse, defined)
            return defined
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            self.block(stmt.body, defined)
            for handler in stmt.handlers:
                self.block(handler.body, defined | ({handler.name} if handler.name else set()))
            self.block(stmt.orelse, defined)
            return self.block(stmt.finalbody, defined)
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            targets = [i.optional_vars for i in stmt.items if i.optional_vars is not None]
            return self.block(stmt.body, defined | bound_names(targets))
        if type(stmt).__name__ == "Match":
            for case in stmt.cases:
                self.block(case.body, defined | bound_names([case.pattern]))
            return defined
        if isinstance(stmt, (ast.Return, ast.Raise, ast.Break, ast.Continue)):
            return None
        return defined | bound_names([stmt])


def _meet(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a & b


# ------------------------------------------------------------------ expressions

class _Expressions(ast.NodeTransformer):
    """`and`/`or`/`not`, conditional expressions and calls of one scope as helper calls;
    reads of names that may hold an Undefined placeholder checked with `ag__.ld`."""

    def __init__(self, maybe_undefined, recursive):
        self.maybe_undefined = maybe_undefined
        self.recursive = recursive
        self.defined = frozenset()
        self.depth = 0  # inside lambdas/comprehensions of this scope: no `ld` checks

    def statements(self, stmts):
        for stmt in stmts:
            self.statement(stmt)

    def statement(self, stmt):
        self.defined = getattr(stmt, "ag_defined", self.defined)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stmt.decorator_list = [self.visit(d) for d in stmt.decorator_list]
            self._defaults(stmt.args)
            return
        if isinstance(stmt, ast.ClassDef):
            stmt.decorator_list = [self.visit(d) for d in stmt.decorator_list]
            stmt.bases = [self.visit(b) for b in stmt.bases]
            return
        self._fields(stmt)
        if hasattr(stmt, "ag_extra_test"):
            self.defined = stmt.ag_defined
            stmt.ag_extra_test = self.visit(stmt.ag_extra_test)

    def _fields(self, node):
        """Visits a node's expressions and statements, and its parts (withitems, except
        handlers, match cases) in their own scope."""
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                for k, item in enumerate(value):
                    if isinstance(item, ast.stmt):
                        self.statement(item)
                    elif isinstance(item, ast.expr):
                        value[k] = self.visit(item)
                    elif isinstance(item, ast.AST):
                        self._part(item)
            elif isinstance(value, ast.expr):
                setattr(node, field, self.visit(value))

    def _part(self, part):
        """A withitem, except handler or match case: its expressions and statements."""
        saved = self.defined
        self._fields(part)
        self.defined = saved

    def _defaults(self, args):
        args.defaults = [self.visit(d) for d in args.defaults]
        args.kw_defaults = [d if d is None else self.visit(d) for d in args.kw_defaults]

    def visit_Lambda(self, node):  # noqa: N802 - ast.NodeTransformer's method names
        self._defaults(node.args)  # (its body is a scope of its own, converted before)
        return node

    def _nested(self, node):
        self.depth += 1
        try:
            return self.generic_visit(node)
        finally:
            self.depth -= 1

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _nested  # noqa: N815

    def visit_Name(self, node):  # noqa: N802
        if isinstance(node.ctx, ast.Load) and not self.depth and \
                node.id in self.maybe_undefined and node.id not in self.defined:
            return ast.copy_location(_call("ld", node), node)
        return node

    def visit_BoolOp(self, node):  # noqa: N802
        self.generic_visit(node)
        helper = "and_" if isinstance(node.op, ast.And) else "or_"
        result = node.values[-1]
        for value in reversed(node.values[:-1]):
            result = _call(helper, _thunk(value), _thunk(result))
        return ast.copy_location(_located([result], node)[0], node)

    def visit_UnaryOp(self, node):  # noqa: N802
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return _located([_call("not_", node.operand)], node)[0]
        return node

    def visit_IfExp(self, node):  # noqa: N802
        text = ast.Constant(ast.unparse(node.test))
        self.generic_visit(node)
        return _located([_call("if_exp", node.test, _thunk(node.body), _thunk(node.orelse),
                               text)], node)[0]

    def visit_Call(self, node):  # noqa: N802
        self.generic_visit(node)
        func = node.func
        if not self.recursive or (isinstance(func, ast.Name) and func.id in _FRAME_CALLS) or (
                isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and
                func.value.id == AG):
            return node
        args = ast.Tuple(elts=node.args, ctx=ast.Load())
        if node.keywords:
            kwargs = ast.Dict(keys=[k.arg and ast.Constant(k.arg) for k in node.keywords],
                              values=[k.value for k in node.keywords])
        else:
            kwargs = ast.Constant(None)
        return _located([_call("converted_call", func, args, kwargs)], node)[0]


# ------------------------------------------------------------------ statements

class _Statements(_BlockRewriter):
    """Replaces each if/while/for of one scope (innermost first) by its functional form."""

    def __init__(self, namer, declared_global, declared_nonlocal):
        self.namer = namer
        self.declared_global = declared_global
        self.declared_nonlocal = declared_nonlocal

    def statement(self, stmt):
        if isinstance(stmt, _SCOPES):
            return [stmt]
        self.nested_blocks(stmt)
        if isinstance(stmt, ast.If):
            return _located(self._if(stmt), stmt)
        if isinstance(stmt, ast.While):
            return _located(self._while(stmt), stmt)
        if isinstance(stmt, ast.For):
            return _located(self._for(stmt), stmt)
        return [stmt]

    def _state(self, stmt, carried):
        """(names in state order, how many are carried, the statements that bind the ones
        that may be unbound, get_state/set_state definitions and their names)."""
        modified = stmt.ag_modified
        names = sorted(modified & carried) + sorted(modified - carried)
        count = len(modified & carried)
        prologue = []
        for name in names:
            if name in stmt.ag_defined or name in self.declared_global or \
                    name in self.declared_nonlocal:
                continue
            prologue.append(ast.Try(
                body=[ast.Expr(value=_load(name))],
                handlers=[ast.ExceptHandler(type=_load("NameError"), name=None, body=[
                    _assign(name, _call("Undefined", ast.Constant(name)))])],
                orelse=[], finalbody=[]))
        get_name, set_name = self.namer.new("get_state"), self.namer.new("set_state")
        values = ast.Tuple(elts=[_load(n) for n in names], ctx=ast.Load())
        getter = _def(get_name, [ast.Return(value=values)])
        if names:
            target = ast.Tuple(elts=[_store(n) for n in names], ctx=ast.Store())
            setter_body = self._declare(names) + [
                ast.Assign(targets=[target], value=_load("vars_"))]
        else:
            setter_body = [ast.Pass()]
        setter = _def(set_name, setter_body, ["vars_"])
        return names, count, prologue, [getter, setter], (get_name, set_name)

    def _declare(self, names):
        out = []
        globals_ = [n for n in names if n in self.declared_global]
        nonlocals = [n for n in names if n not in self.declared_global]
        if globals_:
            out.append(ast.Global(names=globals_))
        if nonlocals:
            out.append(ast.Nonlocal(names=nonlocals))
        return out

    def _if(self, stmt):
        names, count, prologue, accessors, (get, put) = self._state(stmt, stmt.ag_live_out)
        body_name, else_name = self.namer.new("if_body"), self.namer.new("else_body")
        body = _def(body_name, self._declare(names) + stmt.body)
        orelse = _def(else_name, self._declare(names) + (stmt.orelse or [ast.Pass()]))
        call = _call("if_stmt", stmt.test, _load(body_name), _load(else_name), _load(get),
                     _load(put), _strings(names), ast.Constant(count))
        return prologue + [body, orelse, *accessors, ast.Expr(value=call)]

    def _while(self, stmt):
        carried = stmt.ag_live_head | stmt.ag_live_out
        names, count, prologue, accessors, (get, put) = self._state(stmt, carried)
        test_name, body_name = self.namer.new("loop_test"), self.namer.new("loop_body")
        test = _def(test_name, [ast.Return(value=stmt.test)])
        body = _def(body_name, self._declare(names) + stmt.body)
        call = _call("while_stmt", _load(test_name), _load(body_name), _load(get), _load(put),
                     _strings(names), ast.Constant(count), self._options(stmt))
        return prologue + [test, body, *accessors, ast.Expr(value=call)]

    def _for(self, stmt):
        carried = stmt.ag_live_head | stmt.ag_live_out
        names, count, prologue, accessors, (get, put) = self._state(stmt, carried)
        body_name, item = self.namer.new("loop_body"), self.namer.new("itr")
        unpack = ast.Assign(targets=[stmt.target], value=_load(item))
        body = _def(body_name, self._declare(names) + [unpack] + stmt.body, [item])
        defs = [body]
        extra = getattr(stmt, "ag_extra_test", None)
        if extra is not None:
            extra_name = self.namer.new("extra_test")
            defs.insert(0, _def(extra_name, [ast.Return(value=extra)]))
            extra = _load(extra_name)
        call = _call("for_stmt", stmt.iter, extra or ast.Constant(None), _load(body_name),
                     _load(get), _load(put), _strings(names), ast.Constant(count),
                     self._options(stmt))
        return prologue + [*defs, *accessors, ast.Expr(value=call)]

    @staticmethod
    def _options(stmt):
        options = getattr(stmt, "ag_options", None)
        return options if options is not None else ast.Constant(None)


# ------------------------------------------------------------------ whole functions

def _is_generator(node):
    return any(isinstance(n, (ast.Yield, ast.YieldFrom, ast.Await))
               for n in _walk_scope(node))


def _nested_scopes(stmts):
    for stmt in stmts:
        for node in [stmt, *_walk_scope(stmt)]:
            if isinstance(node, (ast.FunctionDef, ast.Lambda)):
                yield node


def convert_scope(node, namer, recursive=True):
    """Converts a function or lambda node in place, its nested functions first."""
    body = node.body if isinstance(node.body, list) else [node.body]
    for inner in list(_nested_scopes(body)):
        if not _is_generator(inner):
            convert_scope(inner, namer, recursive)
    if isinstance(node, ast.Lambda):
        converter = _Expressions(set(), recursive)
        node.body = converter.visit(node.body)
        return
    declared_global = {n for s in _walk_scope(node) if isinstance(s, ast.Global)
                       for n in s.names}
    declared_nonlocal = {n for s in _walk_scope(node) if isinstance(s, ast.Nonlocal)
                         for n in s.names}
    _drop_annotations(node.body)
    if _returns_in_control_flow(node.body):
        _Returns(namer).function(node)
    node.body = _Jumps(namer).block(node.body)
    defined = _parameters(node.args) | declared_global | declared_nonlocal
    _Definitions().block(node.body, defined)
    _Liveness().block(node.body, set())
    maybe_undefined = set()
    for stmt in _walk_scope(node):
        if isinstance(stmt, (ast.If, ast.For, ast.While)):
            stmt.ag_modified = modified_names(stmt)
            maybe_undefined |= stmt.ag_modified - stmt.ag_defined
    maybe_undefined -= declared_global | declared_nonlocal
    _Expressions(maybe_undefined, recursive).statements(node.body)
    node.body = _Statements(namer, declared_global, declared_nonlocal).block(node.body)


def _drop_annotations(stmts):
    """`x: T = v` as `x = v` (and `x: T` dropped): a variable that moves into a generated
    function is declared nonlocal there, which an annotated assignment may not target.
    Python never evaluates a local variable's annotation, so nothing else changes."""
    for k, stmt in enumerate(stmts):
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            stmts[k] = ast.copy_location(
                ast.Assign(targets=[stmt.target], value=stmt.value) if stmt.value is not None
                else ast.Pass(), stmt)
        elif not isinstance(stmt, _SCOPES):
            for field in ("body", "orelse", "finalbody"):
                if getattr(stmt, field, None):
                    _drop_annotations(getattr(stmt, field))
            for part in getattr(stmt, "handlers", []) + getattr(stmt, "cases", []):
                _drop_annotations(part.body)


def check_convertible(node):
    """Raises NotConvertibleError for what the converter does not rewrite."""
    if isinstance(node, ast.AsyncFunctionDef):
        raise NotConvertibleError("async functions are not converted")
    if _is_generator(node):
        raise NotConvertibleError("generators are not converted")
