"""numba itself: the compile options, and the small helpers every kernel inlines.

Nothing here knows about losses or data layouts. ``AVAILABLE`` says whether
numba is installed; :func:`jit` compiles a kernel the way all of them are
compiled, or returns None without numba (callers then take the numpy path).
"""

from types import FunctionType

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - exercised when numba is absent
    numba = None

AVAILABLE = numba is not None

# Reassociation lets LLVM vectorise the dot products (a sequential sum is
# bound by the latency of one add per feature); the results differ from the
# numpy path only by rounding. No "nnan"/"ninf": infinities must propagate so
# that divergence is detected.
_FLAGS = {"reassoc", "contract"}


def jit(function, inline=False):
    """``function`` compiled by numba as the training kernels are, or None.

    Solvers use it for their optional compiled update; None (numba not
    installed) means they take their numpy path. ``inline=True`` inlines
    the function into its compiled callers: a call that LLVM does not
    inline costs tens of nanoseconds, which matters per coordinate.
    """
    if numba is None:  # pragma: no cover - exercised when numba is absent
        return None
    # cache=True keeps the compiled code on disk: the compile cost (a few
    # seconds) is paid once per machine and dtype, not once per process.
    # error_model="numpy": a division by zero gives inf or nan, as in numpy,
    # instead of a ZeroDivisionError check per division, whose branch keeps
    # LLVM from vectorising a loop that divides. The steps report non-finite
    # results themselves.
    options = dict(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy")
    if inline:
        options["inline"] = "always"
    return numba.njit(**options)(function)


_VARIANTS = {}


def specialise(function, inline=False, **constants):
    """``function`` compiled with some of its module's names fixed, or None.

    numba reads a global name as a compile-time constant and drops the
    branches that a constant decides before it types the function, so a
    variant compiles only the code its calls can reach: a binary fit does
    not compile the softmax, a full-data pass not the lazy bookkeeping. On
    a first fit with an empty cache this is most of the compile time
    (minibatch on CSR data: 7.4 s before, 3.2 s after). A constant may also be a
    specialised callee. Each variant is compiled once per process and has a
    cache file of its own (its name carries the constants).

    Parameters
    ----------
    function : function
        A plain Python function, written with the constants as globals.
    inline : bool, default=False
        As for :func:`jit`.
    **constants
        The names to fix, with their values (bools, ints or variants).
    """
    if numba is None:  # pragma: no cover - exercised when numba is absent
        return None
    key = (function, inline, tuple(sorted(constants.items(), key=str)))
    variant = _VARIANTS.get(key)
    if variant is None:
        suffix = "".join(
            f"__{name}_{getattr(value, '__name__', value)}"
            for name, value in sorted(constants.items())
        )
        copy = FunctionType(
            function.__code__, {**function.__globals__, **constants},
            function.__name__ + suffix, function.__defaults__, function.__closure__,
        )  # fmt: skip
        copy.__qualname__ = function.__qualname__ + suffix
        copy.__module__, copy.__doc__ = function.__module__, function.__doc__
        variant = _VARIANTS[key] = jit(copy, inline=inline)
    return variant


# How many non-zeros ahead a CSR kernel asks for a feature's row of the
# parameters: enough to cover a fetch from L3 at the loop's pace, few enough
# for the lines to stay in L1 until used. Unsigned, like the positions it is
# added to (see _row_span).
_AHEAD = np.uintp(16)


def _prefetch(array, row, column):
    """Ask the CPU to bring ``array[row, column]``'s cache line into its caches.

    Only a hint: it changes no value, and compiled callers use it to start
    the fetch of a record that they will need some iterations later, when
    an access pattern (an index read from the data) defeats the hardware's
    own prefetcher. Called from Python, it does nothing.
    """


if numba is not None:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic, overload

    @intrinsic
    def _prefetch_intrinsic(typingctx, array, row, column):
        def codegen(context, builder, signature, args):
            array_type, row_type, column_type = signature.args
            handle = context.make_array(array_type)(context, builder, args[0])
            index = [
                context.cast(builder, value, kind, types.intp)
                for value, kind in zip(args[1:], (row_type, column_type), strict=True)
            ]
            pointer = cgutils.get_item_pointer(
                context, builder, array_type, handle, index, wraparound=False
            )
            i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            function = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                "llvm.prefetch.p0",  # opaque pointers: the LLVM of numba >= 0.68
            )
            # (address, 0: for a read (asking for a write made no difference),
            # 3: keep in all cache levels, 1: data)
            builder.call(
                function, [builder.bitcast(pointer, i8p), i32(0), i32(3), i32(1)]
            )
            return context.get_dummy_value()

        return types.void(array, row, column), codegen

    @overload(_prefetch, inline="always")
    def _prefetch_overload(array, row, column):
        return lambda array, row, column: _prefetch_intrinsic(array, row, column)


def soft_threshold(x, threshold):
    """``sign(x) * max(|x| - threshold, 0)`` for scalars; NaN stays NaN."""
    shrunk = abs(x) - threshold
    if shrunk <= 0:
        return x - x  # a zero of x's type (x is finite here)
    return np.copysign(shrunk, x)


def _row_span(indptr, i):
    """The positions of row ``i``'s non-zeros in a CSR matrix, unsigned.

    numba guards every access through a signed index with a wrap-around of
    negative values, a compare and a conditional move; positions and column
    indices are never negative, and with unsigned ones the CSR kernels'
    loops over a row's non-zeros shed those instructions: adam's sparse
    epoch went from 0.105 to 0.083 s, minibatch's from 0.091 to 0.068 s.
    Sums with them stay unsigned (``_AHEAD``): numba makes a float of a
    signed and an unsigned integer.
    """
    return np.uintp(indptr[i]), np.uintp(indptr[i + 1])


_EMPTY_ROWS = np.empty(0, dtype=np.intp)
_EMPTY = {np.float32: np.empty(0, np.float32), np.float64: np.empty(0, np.float64)}


def rows_arg(rows):
    """``(rows, n_rows)`` for a compiled update: n_rows -1 means every row."""
    return (_EMPTY_ROWS, -1) if rows is None else (rows, rows.shape[0])


def threshold_arg(prox):
    """The per-row L1 thresholds of ``prox`` for a compiled update (empty: none)."""
    return _EMPTY[np.float64] if prox is None else prox.threshold


if AVAILABLE:
    soft_threshold = jit(soft_threshold)
    _row_span = jit(_row_span, inline=True)
