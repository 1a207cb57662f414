/* Text-run search for the compiled encoder's fast scanning loop (_encode_c.pyx, next_fast).
 *
 * omadm_text_run returns the index of the first '<' in s[i:n] (n when there is none), sets
 * *special when a ']', '&' or CR comes before it (the bytes the scanner's slow text path
 * handles: a "]]>" check, a reference, a line end to normalise), and sets *content when any
 * byte before it is not XML whitespace (space, TAB, LF, CR). 16 bytes at a time with SSE2
 * where the compiler has it (every x86-64), else one at a time; exact either way, and it never
 * reads outside s[0:n].
 */
#ifndef OMADM_WBXML_SCAN_SIMD_H
#define OMADM_WBXML_SCAN_SIMD_H

#include <stddef.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline int omadm_text_special(unsigned char c)
{
    return c == ']' || c == '&' || c == '\r';
}

static inline int omadm_text_ws(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

static inline ptrdiff_t omadm_text_run(const unsigned char *s, ptrdiff_t i, ptrdiff_t n,
                                       int *special, int *content)
{
#if defined(__SSE2__)
    const __m128i lt = _mm_set1_epi8('<'), rb = _mm_set1_epi8(']');
    const __m128i amp = _mm_set1_epi8('&'), cr = _mm_set1_epi8('\r');
    const __m128i sp = _mm_set1_epi8(' '), lf = _mm_set1_epi8('\n'), tab = _mm_set1_epi8('\t');
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i is_cr = _mm_cmpeq_epi8(v, cr);
        unsigned int m_lt = (unsigned int)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lt));
        unsigned int m_sp = (unsigned int)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, rb), _mm_or_si128(_mm_cmpeq_epi8(v, amp), is_cr)));
        unsigned int m_ws = (unsigned int)_mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, lf)),
                         _mm_or_si128(_mm_cmpeq_epi8(v, tab), is_cr)));
        unsigned int before = 0xFFFFu;
        if (m_lt)
            before = (1u << __builtin_ctz(m_lt)) - 1u;
        if (m_sp & before)
            *special = 1;
        if (~m_ws & before)
            *content = 1;
        if (m_lt)
            return i + (ptrdiff_t)__builtin_ctz(m_lt);
        i += 16;
    }
#endif
    while (i < n && s[i] != '<') {
        if (omadm_text_special(s[i]))
            *special = 1;
        if (!omadm_text_ws(s[i]))
            *content = 1;
        i++;
    }
    return i;
}

/* How many leading bytes of s[0:n] are, in whole 16-byte blocks, ASCII that needs no further
 * character check (0x20..0x7F, TAB, LF, CR); 0 without SSE2. The caller checks the rest. */
static inline ptrdiff_t omadm_skip_xml_ascii(const unsigned char *s, ptrdiff_t n)
{
    ptrdiff_t i = 0;
#if defined(__SSE2__)
    const __m128i limit = _mm_set1_epi8(0x1F);
    const __m128i lf = _mm_set1_epi8('\n'), tab = _mm_set1_epi8('\t'), cr = _mm_set1_epi8('\r');
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        /* Signed compare: bytes >= 0x80 are negative and fail "> 0x1F" like controls do. */
        __m128i ok = _mm_or_si128(_mm_cmpgt_epi8(v, limit),
                                  _mm_or_si128(_mm_cmpeq_epi8(v, lf),
                                               _mm_or_si128(_mm_cmpeq_epi8(v, tab),
                                                            _mm_cmpeq_epi8(v, cr))));
        if (_mm_movemask_epi8(ok) != 0xFFFF)
            break;
        i += 16;
    }
#endif
    return i;
}

/* How many leading bytes of s[i:n] are space, TAB or LF (indentation), from i; exact. With
 * SSE2 a run shorter than 16 bytes costs one step and no loop-exit branch per byte. */
static inline ptrdiff_t omadm_skip_indent(const unsigned char *s, ptrdiff_t i, ptrdiff_t n)
{
#if defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(' '), lf = _mm_set1_epi8('\n'), tab = _mm_set1_epi8('\t');
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        unsigned int ws = (unsigned int)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, sp),
                         _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, tab))));
        if (ws != 0xFFFFu)
            return i + (ptrdiff_t)__builtin_ctz(~ws);
        i += 16;
    }
#endif
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t'))
        i++;
    return i;
}

/* The end of the ASCII XML name starting at s[i] (letters, digits, '.', '-', '_'; a colon or
 * any other byte ends it), i.e. the index of the first byte after it, within n; exact. */
static inline int omadm_ascii_name_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '.' || c == '-' || c == '_';
}

static inline ptrdiff_t omadm_ascii_name_end(const unsigned char *s, ptrdiff_t i, ptrdiff_t n)
{
#if defined(__SSE2__)
    const __m128i bias = _mm_set1_epi8((char)0x80);
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        /* Unsigned ranges through a biased signed compare: x in [lo, hi] iff
         * (x ^ 0x80) > (lo - 1) ^ 0x80 and (x ^ 0x80) < (hi + 1) ^ 0x80. */
        __m128i b = _mm_xor_si128(v, bias);
#define OMADM_RANGE(lo, hi) _mm_and_si128( \
            _mm_cmpgt_epi8(b, _mm_set1_epi8((char)(((lo) - 1) ^ 0x80))), \
            _mm_cmplt_epi8(b, _mm_set1_epi8((char)(((hi) + 1) ^ 0x80))))
        __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));  /* letters of either case */
        __m128i bl = _mm_xor_si128(lower, bias);
        __m128i letter = _mm_and_si128(
            _mm_cmpgt_epi8(bl, _mm_set1_epi8((char)(('a' - 1) ^ 0x80))),
            _mm_cmplt_epi8(bl, _mm_set1_epi8((char)(('z' + 1) ^ 0x80))));
        __m128i ok = _mm_or_si128(
            _mm_or_si128(letter, OMADM_RANGE('0', '9')),
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')),
                         _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')),
                                      _mm_cmpeq_epi8(v, _mm_set1_epi8('_')))));
#undef OMADM_RANGE
        unsigned int mask = (unsigned int)_mm_movemask_epi8(ok);
        if (mask != 0xFFFFu)
            return i + (ptrdiff_t)__builtin_ctz(~mask);
        i += 16;
    }
#endif
    while (i < n && omadm_ascii_name_byte(s[i]))
        i++;
    return i;
}

/* Whether s[0:n] holds a ']', '&' or CR (the bytes omadm_text_run calls special), for a run
 * already bounded by its '<': 64 bytes a step with SSE2, no branch per 16-byte block; exact. */
static inline int omadm_any_special(const unsigned char *s, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    unsigned char acc = 0;
#if defined(__SSE2__)
    const __m128i rb = _mm_set1_epi8(']'), amp = _mm_set1_epi8('&'), cr = _mm_set1_epi8('\r');
    __m128i hit = _mm_setzero_si128();
#define OMADM_SPECIAL(v) _mm_or_si128(_mm_cmpeq_epi8(v, rb), \
                                      _mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, cr)))
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(s + i + 48));
        hit = _mm_or_si128(hit, _mm_or_si128(_mm_or_si128(OMADM_SPECIAL(a), OMADM_SPECIAL(b)),
                                             _mm_or_si128(OMADM_SPECIAL(c), OMADM_SPECIAL(d))));
        if ((i & 4095) == 0 && _mm_movemask_epi8(hit))
            return 1;
    }
    for (; i + 16 <= n; i += 16)
        hit = _mm_or_si128(hit, OMADM_SPECIAL(_mm_loadu_si128((const __m128i *)(s + i))));
#undef OMADM_SPECIAL
    if (_mm_movemask_epi8(hit))
        return 1;
#endif
    for (; i < n; i++)
        acc |= (unsigned char)omadm_text_special(s[i]);
    return acc;
}

/* Whether every byte of s[0:n] is ASCII (below 0x80); 64 bytes a step with SSE2. */
static inline int omadm_all_ascii(const unsigned char *s, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    unsigned char acc = 0;
#if defined(__SSE2__)
    __m128i all = _mm_setzero_si128();
    for (; i + 64 <= n; i += 64) {
        all = _mm_or_si128(all, _mm_or_si128(
            _mm_or_si128(_mm_loadu_si128((const __m128i *)(s + i)),
                         _mm_loadu_si128((const __m128i *)(s + i + 16))),
            _mm_or_si128(_mm_loadu_si128((const __m128i *)(s + i + 32)),
                         _mm_loadu_si128((const __m128i *)(s + i + 48)))));
        if ((i & 4095) == 0 && _mm_movemask_epi8(all))
            return 0;
    }
    for (; i + 16 <= n; i += 16)
        all = _mm_or_si128(all, _mm_loadu_si128((const __m128i *)(s + i)));
    if (_mm_movemask_epi8(all))
        return 0;
#endif
    for (; i < n; i++)
        acc |= s[i];
    return acc < 0x80;
}

#endif
