"""Integer arithmetic on shape symbols, as written in kernel files (``(IH + PT - KH) // SH + 1``).

Kernel files are data, so their expressions are evaluated by walking the syntax tree with a
fixed set of integer operators, never with ``eval``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping

from ..errors import ExpressionError

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def evaluate(expression: str, symbols: Mapping[str, int]) -> int:
    """Value of ``expression`` (``+ - * // %``, parentheses, integers, symbol names)."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"cannot parse {expression!r}: {error.msg}") from None
    return _value(tree.body, symbols, expression)


def _value(node: ast.AST, symbols: Mapping[str, int], expression: str) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in symbols:
            raise ExpressionError(f"unknown symbol {node.id!r} in {expression!r}")
        return symbols[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _value(node.operand, symbols, expression)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _value(node.left, symbols, expression)
        right = _value(node.right, symbols, expression)
        if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and right == 0:
            raise ExpressionError(f"division by zero in {expression!r}")
        return _BINARY[type(node.op)](left, right)
    raise ExpressionError(f"only integer + - * // % are allowed, found {ast.unparse(node)!r} "
                          f"in {expression!r}")
