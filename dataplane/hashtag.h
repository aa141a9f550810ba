/*
 * hashtag.h — finding hashtags in a tweet's text, and the key a hashtag
 * is counted under (the tweet processor's top-k).
 *
 * A hashtag, in text (UTF-8, JSON escapes already decoded):
 *   - starts with '#' (U+0023) or '＃' (U+FF03) at the start of the text or
 *     after a character that is neither a hashtag character nor '&'
 *     ("abc#x" and "&#39;" hold no hashtag);
 *   - goes on over hashtag characters, and ends at the first other one;
 *   - holds at least one character that is not an ASCII digit or '_'
 *     ("#2024" and "#_1" are not hashtags, "#2024年" is).
 * Hashtag characters (Twitter's rule is letters, marks, digits and '_';
 * without Unicode tables we take every non-ASCII character that is not in
 * a punctuation, space or symbol block):
 *   - ASCII letters and digits, '_';
 *   - every non-ASCII character except U+0080..U+00BF (Latin-1 controls,
 *     spaces, punctuation and symbols) but ª µ º, U+00D7 ×, U+00F7 ÷,
 *     U+2000..U+2BFF (general punctuation, ellipsis, arrows, math,
 *     dingbats, ...) but U+200C and U+200D (zero-width (non-)joiners),
 *     U+3000..U+303F (CJK symbols and punctuation), U+FE00..U+FE1F
 *     (variation selectors, vertical forms), U+FE30..U+FE6F (CJK
 *     compatibility and small forms), the full-width ASCII punctuation
 *     U+FF00..U+FF0F, U+FF1A..U+FF20, U+FF3B..U+FF40, U+FF5B..U+FF65,
 *     U+FFF0..U+FFFF (specials) and U+1F000..U+1FAFF (emoji, pictographs).
 *   Bytes that are not valid UTF-8 are not hashtag characters.
 *
 * The key of a hashtag is '#' followed by its text case-folded, cut to
 * SL_TOPK_KEY - 1 (31) bytes at a character boundary. Case folding is
 * Unicode's simple folding (CaseFolding.txt, status C and S) for Basic
 * Latin, Latin-1 Supplement, Latin Extended-A, the Greek letters
 * U+0386..U+03AB (and final sigma) and Cyrillic U+0400..U+042F; other
 * characters are kept as they are. So "#Rust", "#RUST" and "#rust" are
 * one key, as are "#Türkiye" and "#TÜRKIYE".
 */
#ifndef SLUICE_HASHTAG_H
#define SLUICE_HASHTAG_H

#include <stddef.h>
#include <stdint.h>

#include "topk.h"

/* The hashtags of text[0..len), in order: fn(tag, tag_len, arg) for each, tag without its '#'. */
typedef void (*sl_hashtag_fn)(const char *tag, size_t len, void *arg);
unsigned sl_hashtags_scan(const char *text, size_t len, sl_hashtag_fn fn, void *arg);

/*
 * The key of the hashtag whose text (without '#') is tag[0..len): '#',
 * then the text case-folded, cut at a character boundary, NUL-padded to
 * SL_TOPK_KEY bytes. Returns the key's length (at least 1: the '#').
 */
uint32_t sl_hashtag_key(const char *tag, size_t len, uint8_t key[SL_TOPK_KEY]);

#endif
