"""``exp`` and ``log`` for the kernels: branch-free, so that loops around them vectorise.

Numba's ``math.exp`` and ``math.log`` are scalar calls into libm (llvmlite is
built without Intel's SVML), which left the E-step ten times slower than a
memory stream. :func:`_exp` and :func:`_log` are polynomials on the float's
bits (fdlibm's reductions), within one ulp of NumPy's over the whole range,
subnormal results included, and exact at the special values.

What they rely on in Numba, and what would catch a change in it:

* A jitted function called from another is compiled with the flags given to
  it, or, without flags of its own, with those of its first caller. The
  kernels are compiled with fast-math flags that include ``reassoc`` and
  ``afn``, which would let LLVM undo the rounding tricks below (``(t +
  shifter) - shifter``, the two-part ln 2): these functions carry their own
  flags (``_EXACT``) and keep them when LLVM inlines them. If Numba stopped
  honouring a callee's own flags, ``tests/test_fastmath.py`` (every result
  within one ulp of NumPy's, from loops compiled with the kernels' flags)
  would fail.
* ``numba.extending.intrinsic`` lowers the two bit casts to a single LLVM
  ``bitcast`` (no conversion).
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# The bodies of exp and log: no "reassoc" or "afn", which would let LLVM undo the
# rounding tricks they rely on (``(t + shifter) - shifter``, the two-part ln 2).
# Numba gives a callee without its own flags those of its first caller; these
# keep their own when LLVM inlines them into a kernel compiled with _FASTMATH.
_EXACT = {"cache": True, "fastmath": {"nsz", "contract"}, "nogil": True, "error_model": "numpy"}



@intrinsic
def _float_bits(typingctx, x):
    """The IEEE 754 bits of a float64, as an int64 (a bitcast, no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, bits):
    """The float64 whose IEEE 754 bits are the int64 ``bits`` (a bitcast)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_LOG2E = 1.4426950408889634
# ln 2 in two parts (fdlibm): the high part has 32 trailing zero bits, so k * _LN2_HI
# is exact for |k| < 2**20.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# Adding 1.5 * 2**52 rounds a float of magnitude < 2**51 to an integer, which then
# sits in the low bits of the sum's mantissa.
_SHIFTER = 6755399441055744.0
_SHIFTER_BITS = int(np.array(_SHIFTER).view(np.int64))
_EXPONENT_ONE = 1023
# Below this exp is under half the smallest subnormal (rounds to 0); above the
# other, it overflows. Clamping there keeps 2**k representable as two factors.
_EXP_LOW = -746.0
_EXP_HIGH = 710.0
# Taylor coefficients 1/j! of exp(r), |r| <= ln(2)/2: the degree-13 remainder is
# below 5e-18, far under half an ulp.
_INV_FACTORIAL = [1.0]
for _j in range(1, 14):
    _INV_FACTORIAL.append(_INV_FACTORIAL[-1] / _j)
(_E0, _E1, _E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13) = _INV_FACTORIAL


@njit(**_EXACT)
def _exp(x):
    """``exp(x)`` within one ulp of NumPy's, branch-free so that loops vectorise.

    ``exp(x) = 2**k exp(r)`` with ``k = round(x / ln 2)`` and
    ``|r| <= ln(2) / 2``; ``exp(r)`` is its Taylor polynomial of degree 13 and
    ``2**k`` is built from its exponent bits, in two factors so that results
    down to the smallest subnormal are rounded once. ``-inf`` and every
    ``x < -745.14`` give 0, ``x > 709.79`` gives ``inf``, NaN stays NaN.
    """
    # Clamp with comparisons that NaN fails, so NaN goes through to the result.
    if x < _EXP_LOW:
        x = _EXP_LOW
    if x > _EXP_HIGH:
        x = _EXP_HIGH
    shifted = x * _LOG2E + _SHIFTER
    k_float = shifted - _SHIFTER
    k = _float_bits(shifted) - _SHIFTER_BITS
    r = (x - k_float * _LN2_HI) - k_float * _LN2_LO
    p = _E13
    p = p * r + _E12
    p = p * r + _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + _E1
    p = p * r + _E0
    half = k >> 1
    scale_a = _bits_float((half + _EXPONENT_ONE) << 52)
    scale_b = _bits_float((k - half + _EXPONENT_ONE) << 52)
    return p * scale_a * scale_b


# log(1 + f) = f - f**2 / 2 + s (f**2 / 2 + R(s**2)), s = f / (2 + f) (fdlibm's e_log.c).
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
_EXPONENT_MASK = -(1 << 52)  # the sign and exponent bits: 0xFFF0000000000000
_TWO_52 = 4503599627370496.0
_SMALLEST_NORMAL = 2.2250738585072014e-308


@njit(**_EXACT)
def _log(x):
    """``log(x)`` within one ulp of NumPy's, branch-free so that loops vectorise.

    ``x = 2**k m`` with ``sqrt(1/2) <= m < sqrt(2)`` read off the bits (a
    subnormal ``x`` is first scaled by ``2**52``), and ``log(m)`` from fdlibm's
    polynomial in ``s = (m - 1) / (m + 1)``. ``log(0) = -inf``,
    ``log(inf) = inf``, negative ``x`` and NaN give NaN.
    """
    subnormal = x < _SMALLEST_NORMAL
    scaled = x * _TWO_52 if subnormal else x
    correction = 52 if subnormal else 0
    bits = _float_bits(scaled)
    offset = bits - _SQRT_HALF_BITS
    k = (offset >> 52) - correction
    m = _bits_float(bits - (offset & _EXPONENT_MASK))
    f = m - 1.0
    k_float = _bits_float(k + _SHIFTER_BITS) - _SHIFTER
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    odd = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    even = w * (_LG2 + w * (_LG4 + w * _LG6))
    half_f2 = 0.5 * f * f
    result = s * (half_f2 + odd + even) + k_float * _LN2_LO - half_f2 + f + k_float * _LN2_HI
    if x == 0.0:
        result = -np.inf
    if x == np.inf:
        result = np.inf
    if not x >= 0.0:
        result = np.nan
    return result
