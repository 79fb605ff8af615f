// Wide-character ncurses: both defines must precede curses.h or cchar_t and
// add_wch stay hidden from Swift (PLATFORM.md).
#define _XOPEN_SOURCE_EXTENDED 1
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <wchar.h>
#include <ncursesw/curses.h>

// Macros Swift cannot import, as functions.
static inline attr_t spur_a_bold(void) { return A_BOLD; }
static inline attr_t spur_a_reverse(void) { return A_REVERSE; }
static inline attr_t spur_a_dim(void) { return A_DIM; }
static inline attr_t spur_a_underline(void) { return A_UNDERLINE; }
static inline int spur_key_f(int n) { return KEY_F(n); }

// Globals Swift 6 refuses to read directly (shared mutable state): read them
// through functions, from the UI thread only.
static inline WINDOW *spur_stdscr(void) { return stdscr; }
static inline FILE *spur_stdin(void) { return stdin; }
static inline FILE *spur_stdout(void) { return stdout; }
static inline int spur_colors(void) { return COLORS; }
static inline int spur_color_pairs(void) { return COLOR_PAIRS; }

// Mouse: clicks and the wheel, reduced to what the UI uses (0 = ignore).
// Returns 1 for a left click, 4 for wheel up, 5 for wheel down.
static inline void spur_mouse_on(void) { mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL); mouseinterval(0); }
static inline int spur_mouse_event(int *x, int *y) {
    MEVENT e;
    if (getmouse(&e) != OK) return 0;
    *x = e.x; *y = e.y;
    if (e.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED)) return 1;
    if (e.bstate & BUTTON4_PRESSED) return 4;
    if (e.bstate & BUTTON5_PRESSED) return 5;
    return 0;
}
