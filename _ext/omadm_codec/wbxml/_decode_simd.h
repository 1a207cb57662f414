/* Fast scans for the compiled WBXML decoder's text (_ext/omadm_codec/wbxml/_decode_text.pxd).
 *
 * Each function looks at 16 bytes at a time with SSE2 where the compiler has it (every x86-64)
 * and never reads outside s[0:n]. omadm_skip_plain_ascii returns how many leading bytes are
 * certainly uninteresting (0 without SSE2): its caller handles the next byte itself. The
 * others are exact (a scalar loop finishes or replaces the vector one): the index of the first
 * byte to handle, or a length.
 */
#ifndef OMADM_WBXML_DECODE_SIMD_H
#define OMADM_WBXML_DECODE_SIMD_H

#include <stddef.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Bytes 0x20..0x7F: ASCII that is XML text without further checks. */
static inline size_t omadm_skip_plain_ascii(const unsigned char *s, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i limit = _mm_set1_epi8(0x1F);
    while (i + 16 <= n) {
        /* Signed compare: bytes >= 0x80 are negative, so they fail "> 0x1F" like controls do. */
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        if (_mm_movemask_epi8(_mm_cmpgt_epi8(v, limit)) != 0xFFFF)
            break;
        i += 16;
    }
#endif
    return i;
}

/* Bytes text escaping turns into entities: & < > " ' CR (bit 1), and in attribute values TAB
 * and LF too (bit 2). The scalar scans look bytes up here. */
static const unsigned char omadm_escape_class[256] = {
    ['&'] = 1, ['<'] = 1, ['>'] = 1, ['"'] = 1, ['\''] = 1, ['\r'] = 1, ['\t'] = 2, ['\n'] = 2,
};

/* Index of the first byte of s[0:n] that text (attr: attribute value) escaping replaces, or n.
 * Exact, so the caller jumps straight to it: no per-byte loop between entities. With SSE2, 16
 * bytes per step and one overlapping last step (never outside s[0:n]) when n >= 16. */
static inline size_t omadm_escape_at(const unsigned char *s, size_t n, int attr)
{
    size_t i = 0;
    const unsigned char want = attr ? 3 : 1;
#if defined(__SSE2__)
    if (n >= 16) {
        const __m128i amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>');
        const __m128i quot = _mm_set1_epi8('"'), apos = _mm_set1_epi8('\'');
        const __m128i cr = _mm_set1_epi8('\r'), tab = _mm_set1_epi8('\t');
        const __m128i lf = _mm_set1_epi8('\n');
        for (;;) {
            size_t at = i + 16 <= n ? i : n - 16;  /* the last step overlaps checked bytes */
            __m128i v = _mm_loadu_si128((const __m128i *)(s + at));
            __m128i hit = _mm_or_si128(
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, lt)),
                             _mm_or_si128(_mm_cmpeq_epi8(v, gt), _mm_cmpeq_epi8(v, quot))),
                _mm_or_si128(_mm_cmpeq_epi8(v, apos), _mm_cmpeq_epi8(v, cr)));
            unsigned int mask;
            if (attr)  /* constant at each (inlined) call site */
                hit = _mm_or_si128(hit, _mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, lf)));
            mask = (unsigned int)_mm_movemask_epi8(hit);
            mask &= 0xFFFFu << (i - at);  /* bytes before i were checked already */
            if (mask)
                return at + (size_t)__builtin_ctz(mask);
            if (i + 16 >= n)
                return n;
            i += 16;
        }
    }
#endif
    while (i < n && !(omadm_escape_class[s[i]] & want))
        i++;
    return i;
}

/* Index of the first CR or ']' in s[0:n], or n: a CDATA section must split at CR and at "]]>"
 * (which starts with ']', rare in text, where '>' is everywhere in markup). Exact, as above. */
static inline size_t omadm_cdata_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    if (n >= 16) {
        const __m128i cr = _mm_set1_epi8('\r'), rsb = _mm_set1_epi8(']');
        for (;;) {
            size_t at = i + 16 <= n ? i : n - 16;
            __m128i v = _mm_loadu_si128((const __m128i *)(s + at));
            unsigned int mask = (unsigned int)_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, rsb)));
            mask &= 0xFFFFu << (i - at);
            if (mask)
                return at + (size_t)__builtin_ctz(mask);
            if (i + 16 >= n)
                return n;
            i += 16;
        }
    }
#endif
    while (i < n && s[i] != '\r' && s[i] != ']')
        i++;
    return i;
}

/* Bytes that are valid XML text needing neither a UTF-8 check nor escaping: 0x28..0x7E except
 * '<' and '>', plus space, TAB and LF (base64 with line breaks is all of these). */
static inline int omadm_safe_text_byte(unsigned char c)
{
    return (c >= 0x28 && c <= 0x7E && c != '<' && c != '>') || c == ' ' || c == '\t'
           || c == '\n';
}

/* How many leading bytes of s[0:n] are safe text (omadm_safe_text_byte), exactly. The main
 * loop tests 64 bytes per branch against the common case (0x28..0x7E without '<' '>'); a block
 * that fails it is looked at again 16 bytes at a time with space, TAB and LF allowed. */
static inline size_t omadm_safe_text_len(const unsigned char *s, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i lo = _mm_set1_epi8(0x27), hi = _mm_set1_epi8(0x7F);
    const __m128i lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>');
    const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), lf = _mm_set1_epi8('\n');
/* Signed compares: bytes >= 0x80 are negative and fail "> 0x27". */
#define OMADM_IN_RANGE(v) _mm_andnot_si128( \
        _mm_or_si128(_mm_cmpeq_epi8((v), lt), _mm_cmpeq_epi8((v), gt)), \
        _mm_and_si128(_mm_cmpgt_epi8((v), lo), _mm_cmplt_epi8((v), hi)))
#define OMADM_SAFE(v) _mm_or_si128(OMADM_IN_RANGE(v), _mm_or_si128(_mm_cmpeq_epi8((v), sp), \
        _mm_or_si128(_mm_cmpeq_epi8((v), tab), _mm_cmpeq_epi8((v), lf))))
    size_t stop = n;  /* set below where a 16-byte vector fails the full test */
    while (i + 64 <= n) {
        __m128i ok = OMADM_IN_RANGE(_mm_loadu_si128((const __m128i *)(s + i)));
        ok = _mm_and_si128(ok, OMADM_IN_RANGE(_mm_loadu_si128((const __m128i *)(s + i + 16))));
        ok = _mm_and_si128(ok, OMADM_IN_RANGE(_mm_loadu_si128((const __m128i *)(s + i + 32))));
        ok = _mm_and_si128(ok, OMADM_IN_RANGE(_mm_loadu_si128((const __m128i *)(s + i + 48))));
        if (_mm_movemask_epi8(ok) != 0xFFFF) {
            size_t k;
            for (k = 0; k < 64; k += 16)
                if (_mm_movemask_epi8(OMADM_SAFE(_mm_loadu_si128((const __m128i *)(s + i + k))))
                        != 0xFFFF)
                    break;
            if (k < 64) {
                stop = i + k;
                i = stop;
                break;
            }
        }
        i += 64;
    }
    while (stop == n && i + 16 <= n) {
        if (_mm_movemask_epi8(OMADM_SAFE(_mm_loadu_si128((const __m128i *)(s + i)))) != 0xFFFF)
            break;
        i += 16;
    }
#undef OMADM_SAFE
#undef OMADM_IN_RANGE
#endif
    while (i < n && omadm_safe_text_byte(s[i]))
        i++;
    return i;
}

/* How many leading bytes of s[0:n] are plain text: printable ASCII (0x20..0x7E), TAB or LF,
 * but none of & < > " ' (which text escapes). A STR_I string that is all plain up to its
 * terminator is copied out as it is: no UTF-8 check and no escaping pass (the usual DM
 * string: a URI, a number, a name). Exact; 16 bytes per step with SSE2. */
static inline int omadm_plain_text_byte(unsigned char c)
{
    return (c >= 0x20 && c <= 0x7E && c != '&' && c != '<' && c != '>' && c != '"'
            && c != '\'') || c == '\t' || c == '\n';
}

static inline size_t omadm_plain_text_len(const unsigned char *s, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i lo = _mm_set1_epi8(0x1F), hi = _mm_set1_epi8(0x7F);
    const __m128i amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>');
    const __m128i quot = _mm_set1_epi8('"'), apos = _mm_set1_epi8('\'');
    const __m128i tab = _mm_set1_epi8('\t'), lf = _mm_set1_epi8('\n');
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        /* Signed compares: bytes >= 0x80 are negative and fail "> 0x1F". */
        __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(v, lo), _mm_cmplt_epi8(v, hi));
        __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, lt)),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, gt),
                                                _mm_or_si128(_mm_cmpeq_epi8(v, quot),
                                                             _mm_cmpeq_epi8(v, apos))));
        ok = _mm_or_si128(_mm_andnot_si128(bad, ok),
                          _mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, lf)));
        unsigned int mask = (unsigned int)_mm_movemask_epi8(ok) ^ 0xFFFFu;
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    while (i < n && omadm_plain_text_byte(s[i]))
        i++;
    return i;
}

#endif
