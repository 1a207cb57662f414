# cython: binding=False
"""Compiled twin of the per-message digest primitives (see ``omadm_codec.security._digest_py``).

Every DM digest is ``H(secret ":" nonce [":" B64(H(body))])``, H = MD5. Here each one is
streamed through a C MD5 context (a small public-domain-style RFC 1321 implementation embedded
below), so no intermediate Python object is created; bodies above ``_NOGIL_MIN`` bytes are
hashed with the GIL released. Results and exceptions are identical to the pure twin.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>

    /* MD5 (RFC 1321), written for this module. Invariant: ctx->used < 64 between calls. */
    typedef struct {
        uint32_t a, b, c, d;
        uint64_t total;
        size_t used;
        unsigned char block[64];
    } omd5_ctx;

    #define OMD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
    #define OMD5_G(x, y, z) (((x) & (z)) + ((y) & ~(z)))
    #define OMD5_H(x, y, z) ((x) ^ (y) ^ (z))
    #define OMD5_I(x, y, z) ((y) ^ ((x) | ~(z)))
    #define OMD5_STEP(f, a, b, c, d, x, t, s) \
        (a) += f((b), (c), (d)) + (x) + (uint32_t)(t); \
        (a) = ((a) << (s)) | ((a) >> (32 - (s))); \
        (a) += (b);
    #define OMD5_LE32(p) ((uint32_t)(p)[0] | ((uint32_t)(p)[1] << 8) | \
                          ((uint32_t)(p)[2] << 16) | ((uint32_t)(p)[3] << 24))

    static void omd5_blocks(omd5_ctx *ctx, const unsigned char *p, size_t nblocks) {
        uint32_t a = ctx->a, b = ctx->b, c = ctx->c, d = ctx->d;
        uint32_t X[16];
        while (nblocks--) {
            uint32_t sa = a, sb = b, sc = c, sd = d;
            int i;
            for (i = 0; i < 16; i++) X[i] = OMD5_LE32(p + 4 * i);
            OMD5_STEP(OMD5_F, a, b, c, d, X[0], 0xd76aa478, 7)
            OMD5_STEP(OMD5_F, d, a, b, c, X[1], 0xe8c7b756, 12)
            OMD5_STEP(OMD5_F, c, d, a, b, X[2], 0x242070db, 17)
            OMD5_STEP(OMD5_F, b, c, d, a, X[3], 0xc1bdceee, 22)
            OMD5_STEP(OMD5_F, a, b, c, d, X[4], 0xf57c0faf, 7)
            OMD5_STEP(OMD5_F, d, a, b, c, X[5], 0x4787c62a, 12)
            OMD5_STEP(OMD5_F, c, d, a, b, X[6], 0xa8304613, 17)
            OMD5_STEP(OMD5_F, b, c, d, a, X[7], 0xfd469501, 22)
            OMD5_STEP(OMD5_F, a, b, c, d, X[8], 0x698098d8, 7)
            OMD5_STEP(OMD5_F, d, a, b, c, X[9], 0x8b44f7af, 12)
            OMD5_STEP(OMD5_F, c, d, a, b, X[10], 0xffff5bb1, 17)
            OMD5_STEP(OMD5_F, b, c, d, a, X[11], 0x895cd7be, 22)
            OMD5_STEP(OMD5_F, a, b, c, d, X[12], 0x6b901122, 7)
            OMD5_STEP(OMD5_F, d, a, b, c, X[13], 0xfd987193, 12)
            OMD5_STEP(OMD5_F, c, d, a, b, X[14], 0xa679438e, 17)
            OMD5_STEP(OMD5_F, b, c, d, a, X[15], 0x49b40821, 22)
            OMD5_STEP(OMD5_G, a, b, c, d, X[1], 0xf61e2562, 5)
            OMD5_STEP(OMD5_G, d, a, b, c, X[6], 0xc040b340, 9)
            OMD5_STEP(OMD5_G, c, d, a, b, X[11], 0x265e5a51, 14)
            OMD5_STEP(OMD5_G, b, c, d, a, X[0], 0xe9b6c7aa, 20)
            OMD5_STEP(OMD5_G, a, b, c, d, X[5], 0xd62f105d, 5)
            OMD5_STEP(OMD5_G, d, a, b, c, X[10], 0x02441453, 9)
            OMD5_STEP(OMD5_G, c, d, a, b, X[15], 0xd8a1e681, 14)
            OMD5_STEP(OMD5_G, b, c, d, a, X[4], 0xe7d3fbc8, 20)
            OMD5_STEP(OMD5_G, a, b, c, d, X[9], 0x21e1cde6, 5)
            OMD5_STEP(OMD5_G, d, a, b, c, X[14], 0xc33707d6, 9)
            OMD5_STEP(OMD5_G, c, d, a, b, X[3], 0xf4d50d87, 14)
            OMD5_STEP(OMD5_G, b, c, d, a, X[8], 0x455a14ed, 20)
            OMD5_STEP(OMD5_G, a, b, c, d, X[13], 0xa9e3e905, 5)
            OMD5_STEP(OMD5_G, d, a, b, c, X[2], 0xfcefa3f8, 9)
            OMD5_STEP(OMD5_G, c, d, a, b, X[7], 0x676f02d9, 14)
            OMD5_STEP(OMD5_G, b, c, d, a, X[12], 0x8d2a4c8a, 20)
            OMD5_STEP(OMD5_H, a, b, c, d, X[5], 0xfffa3942, 4)
            OMD5_STEP(OMD5_H, d, a, b, c, X[8], 0x8771f681, 11)
            OMD5_STEP(OMD5_H, c, d, a, b, X[11], 0x6d9d6122, 16)
            OMD5_STEP(OMD5_H, b, c, d, a, X[14], 0xfde5380c, 23)
            OMD5_STEP(OMD5_H, a, b, c, d, X[1], 0xa4beea44, 4)
            OMD5_STEP(OMD5_H, d, a, b, c, X[4], 0x4bdecfa9, 11)
            OMD5_STEP(OMD5_H, c, d, a, b, X[7], 0xf6bb4b60, 16)
            OMD5_STEP(OMD5_H, b, c, d, a, X[10], 0xbebfbc70, 23)
            OMD5_STEP(OMD5_H, a, b, c, d, X[13], 0x289b7ec6, 4)
            OMD5_STEP(OMD5_H, d, a, b, c, X[0], 0xeaa127fa, 11)
            OMD5_STEP(OMD5_H, c, d, a, b, X[3], 0xd4ef3085, 16)
            OMD5_STEP(OMD5_H, b, c, d, a, X[6], 0x04881d05, 23)
            OMD5_STEP(OMD5_H, a, b, c, d, X[9], 0xd9d4d039, 4)
            OMD5_STEP(OMD5_H, d, a, b, c, X[12], 0xe6db99e5, 11)
            OMD5_STEP(OMD5_H, c, d, a, b, X[15], 0x1fa27cf8, 16)
            OMD5_STEP(OMD5_H, b, c, d, a, X[2], 0xc4ac5665, 23)
            OMD5_STEP(OMD5_I, a, b, c, d, X[0], 0xf4292244, 6)
            OMD5_STEP(OMD5_I, d, a, b, c, X[7], 0x432aff97, 10)
            OMD5_STEP(OMD5_I, c, d, a, b, X[14], 0xab9423a7, 15)
            OMD5_STEP(OMD5_I, b, c, d, a, X[5], 0xfc93a039, 21)
            OMD5_STEP(OMD5_I, a, b, c, d, X[12], 0x655b59c3, 6)
            OMD5_STEP(OMD5_I, d, a, b, c, X[3], 0x8f0ccc92, 10)
            OMD5_STEP(OMD5_I, c, d, a, b, X[10], 0xffeff47d, 15)
            OMD5_STEP(OMD5_I, b, c, d, a, X[1], 0x85845dd1, 21)
            OMD5_STEP(OMD5_I, a, b, c, d, X[8], 0x6fa87e4f, 6)
            OMD5_STEP(OMD5_I, d, a, b, c, X[15], 0xfe2ce6e0, 10)
            OMD5_STEP(OMD5_I, c, d, a, b, X[6], 0xa3014314, 15)
            OMD5_STEP(OMD5_I, b, c, d, a, X[13], 0x4e0811a1, 21)
            OMD5_STEP(OMD5_I, a, b, c, d, X[4], 0xf7537e82, 6)
            OMD5_STEP(OMD5_I, d, a, b, c, X[11], 0xbd3af235, 10)
            OMD5_STEP(OMD5_I, c, d, a, b, X[2], 0x2ad7d2bb, 15)
            OMD5_STEP(OMD5_I, b, c, d, a, X[9], 0xeb86d391, 21)
            a += sa; b += sb; c += sc; d += sd;
            p += 64;
        }
        ctx->a = a; ctx->b = b; ctx->c = c; ctx->d = d;
    }

    static void omd5_init(omd5_ctx *ctx) {
        ctx->a = 0x67452301; ctx->b = 0xefcdab89; ctx->c = 0x98badcfe; ctx->d = 0x10325476;
        ctx->total = 0; ctx->used = 0;
    }

    static void omd5_update(omd5_ctx *ctx, const unsigned char *p, size_t n) {
        ctx->total += n;
        if (ctx->used) {
            size_t room = 64 - ctx->used;
            if (n < room) { memcpy(ctx->block + ctx->used, p, n); ctx->used += n; return; }
            memcpy(ctx->block + ctx->used, p, room);
            omd5_blocks(ctx, ctx->block, 1);
            p += room; n -= room; ctx->used = 0;
        }
        if (n >= 64) { omd5_blocks(ctx, p, n / 64); p += n & ~(size_t)63; n &= 63; }
        if (n) { memcpy(ctx->block, p, n); ctx->used = n; }
    }

    static void omd5_final(omd5_ctx *ctx, unsigned char out[16]) {
        uint64_t bits = ctx->total * 8;
        uint32_t w[4];
        int i;
        ctx->block[ctx->used++] = 0x80;
        if (ctx->used > 56) {
            memset(ctx->block + ctx->used, 0, 64 - ctx->used);
            omd5_blocks(ctx, ctx->block, 1);
            ctx->used = 0;
        }
        memset(ctx->block + ctx->used, 0, 56 - ctx->used);
        for (i = 0; i < 8; i++) ctx->block[56 + i] = (unsigned char)(bits >> (8 * i));
        omd5_blocks(ctx, ctx->block, 1);
        w[0] = ctx->a; w[1] = ctx->b; w[2] = ctx->c; w[3] = ctx->d;
        for (i = 0; i < 16; i++) out[i] = (unsigned char)(w[i / 4] >> (8 * (i % 4)));
    }

    /* Base64 (RFC 4648, padded) of exactly 16 bytes into 24 characters. */
    static void ob64_16(const unsigned char in[16], unsigned char out[24]) {
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        int i, o = 0;
        for (i = 0; i < 15; i += 3) {
            uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
            out[o++] = tbl[(v >> 18) & 63]; out[o++] = tbl[(v >> 12) & 63];
            out[o++] = tbl[(v >> 6) & 63]; out[o++] = tbl[v & 63];
        }
        out[20] = tbl[in[15] >> 2]; out[21] = tbl[(in[15] & 3) << 4];
        out[22] = '='; out[23] = '=';
    }

    /* 1 iff equal; time depends only on n, never on where the bytes differ. */
    static int oct_eq(const unsigned char *a, const unsigned char *b, size_t n) {
        volatile unsigned char acc = 0;
        size_t i;
        for (i = 0; i < n; i++) acc |= (unsigned char)(a[i] ^ b[i]);
        return acc == 0;
    }
    """
    ctypedef struct omd5_ctx:
        pass
    void omd5_init(omd5_ctx* ctx) noexcept nogil
    void omd5_update(omd5_ctx* ctx, const unsigned char* p, size_t n) noexcept nogil
    void omd5_final(omd5_ctx* ctx, unsigned char* out) noexcept nogil
    void ob64_16(const unsigned char* inp, unsigned char* out) noexcept nogil
    int oct_eq(const unsigned char* a, const unsigned char* b, size_t n) noexcept nogil

__all__ = [
    "const_time_eq",
    "mac_b64",
    "mac_digest",
    "mac_verify",
    "md5_b64",
    "md5_digest",
    "md5_verify",
    "pkg0_verify",
    "secret_hash",
]

DIGEST_SIZE = 16
# Below this many body bytes, releasing the GIL costs more than it lets others run.
cdef Py_ssize_t _NOGIL_MIN = 16384
cdef const unsigned char* _COLON = b":"


cdef void _dm_digest(const unsigned char* secret, Py_ssize_t secret_len,
                     const unsigned char* nonce, Py_ssize_t nonce_len,
                     const unsigned char* body, Py_ssize_t body_len, bint with_body,
                     unsigned char* out) noexcept nogil:
    cdef omd5_ctx ctx
    cdef unsigned char inner[16]
    cdef unsigned char inner_b64[24]
    omd5_init(&ctx)
    omd5_update(&ctx, secret, <size_t>secret_len)
    omd5_update(&ctx, _COLON, 1)
    omd5_update(&ctx, nonce, <size_t>nonce_len)
    if with_body:
        # The body hash is a separate context: H(body) first, then its base64 appended.
        _md5(body, body_len, inner)
        ob64_16(inner, inner_b64)
        omd5_update(&ctx, _COLON, 1)
        omd5_update(&ctx, inner_b64, 24)
    omd5_final(&ctx, out)


cdef inline void _md5(const unsigned char* data, Py_ssize_t n, unsigned char* out) noexcept nogil:
    cdef omd5_ctx ctx
    omd5_init(&ctx)
    omd5_update(&ctx, data, <size_t>n)
    omd5_final(&ctx, out)


cdef inline const unsigned char* _ptr(bytes b):
    return <const unsigned char*>PyBytes_AS_STRING(b)


cdef void _mac_into(bytes secret, bytes nonce, const unsigned char[::1] body,
                    unsigned char* out):
    cdef Py_ssize_t n = body.shape[0]
    cdef const unsigned char* sp = _ptr(secret)
    cdef const unsigned char* np = _ptr(nonce)
    cdef Py_ssize_t sl = PyBytes_GET_SIZE(secret)
    cdef Py_ssize_t nl = PyBytes_GET_SIZE(nonce)
    # &body[0] is invalid for an empty view; any non-NULL pointer is fine when n == 0.
    cdef const unsigned char* bp = &body[0] if n else sp
    if n >= _NOGIL_MIN:
        with nogil:
            _dm_digest(sp, sl, np, nl, bp, n, 1, out)
    else:
        _dm_digest(sp, sl, np, nl, bp, n, 1, out)


def secret_hash(bytes user not None, bytes password not None) -> bytes:
    """``B64(H(user ":" password))``: 24 ASCII bytes, the stored form of a credential."""
    cdef omd5_ctx ctx
    cdef unsigned char d[16]
    cdef unsigned char b[24]
    omd5_init(&ctx)
    omd5_update(&ctx, _ptr(user), <size_t>PyBytes_GET_SIZE(user))
    omd5_update(&ctx, _COLON, 1)
    omd5_update(&ctx, _ptr(password), <size_t>PyBytes_GET_SIZE(password))
    omd5_final(&ctx, d)
    ob64_16(d, b)
    return PyBytes_FromStringAndSize(<char*>b, 24)


def md5_digest(bytes secret not None, bytes nonce not None) -> bytes:
    """auth-md5: the raw 16-byte ``H(secret ":" nonce)``."""
    cdef unsigned char d[16]
    _dm_digest(_ptr(secret), PyBytes_GET_SIZE(secret), _ptr(nonce), PyBytes_GET_SIZE(nonce),
               NULL, 0, 0, d)
    return PyBytes_FromStringAndSize(<char*>d, 16)


def md5_b64(bytes secret not None, bytes nonce not None) -> bytes:
    """auth-md5 ``Cred/Data``: ``B64(H(secret ":" nonce))``."""
    cdef unsigned char d[16]
    cdef unsigned char b[24]
    _dm_digest(_ptr(secret), PyBytes_GET_SIZE(secret), _ptr(nonce), PyBytes_GET_SIZE(nonce),
               NULL, 0, 0, d)
    ob64_16(d, b)
    return PyBytes_FromStringAndSize(<char*>b, 24)


def md5_verify(bytes secret not None, bytes nonce not None, bytes cred_b64 not None) -> bool:
    """True iff ``cred_b64`` is exactly the canonical base64 of the auth-md5 digest."""
    cdef unsigned char d[16]
    cdef unsigned char b[24]
    _dm_digest(_ptr(secret), PyBytes_GET_SIZE(secret), _ptr(nonce), PyBytes_GET_SIZE(nonce),
               NULL, 0, 0, d)
    ob64_16(d, b)
    # Like hmac.compare_digest: a length mismatch may return early (length is not secret).
    if PyBytes_GET_SIZE(cred_b64) != 24:
        return False
    return oct_eq(b, _ptr(cred_b64), 24) != 0


def mac_digest(bytes secret not None, bytes nonce not None, const unsigned char[::1] body) -> bytes:
    """The raw 16-byte ``H(secret ":" nonce ":" B64(H(body)))`` (HMAC header, package 0)."""
    cdef unsigned char d[16]
    _mac_into(secret, nonce, body, d)
    return PyBytes_FromStringAndSize(<char*>d, 16)


def mac_b64(bytes secret not None, bytes nonce not None, const unsigned char[::1] body) -> bytes:
    """The ``mac=`` value of ``x-syncml-hmac``: base64 of ``mac_digest``."""
    cdef unsigned char d[16]
    cdef unsigned char b[24]
    _mac_into(secret, nonce, body, d)
    ob64_16(d, b)
    return PyBytes_FromStringAndSize(<char*>b, 24)


def mac_verify(bytes secret not None, bytes nonce not None, const unsigned char[::1] body,
               bytes mac not None) -> bool:
    """True iff ``mac`` is exactly the canonical base64 MAC of ``body``."""
    cdef unsigned char d[16]
    cdef unsigned char b[24]
    _mac_into(secret, nonce, body, d)
    ob64_16(d, b)
    if PyBytes_GET_SIZE(mac) != 24:
        return False
    return oct_eq(b, _ptr(mac), 24) != 0


def pkg0_verify(bytes secret not None, bytes nonce not None,
                const unsigned char[::1] raw) -> bool:
    """True iff the first 16 bytes of a package-0 message are the digest of the rest."""
    cdef unsigned char d[16]
    if raw.shape[0] < DIGEST_SIZE:
        return False
    _mac_into(secret, nonce, raw[DIGEST_SIZE:], d)
    return oct_eq(d, &raw[0], 16) != 0


def const_time_eq(bytes a not None, bytes b not None) -> bool:
    """Equality whose time does not depend on where ``a`` and ``b`` first differ."""
    if PyBytes_GET_SIZE(a) != PyBytes_GET_SIZE(b):
        return False
    return oct_eq(_ptr(a), _ptr(b), <size_t>PyBytes_GET_SIZE(a)) != 0
