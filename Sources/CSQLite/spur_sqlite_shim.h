#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro Swift cannot import: SQLite copies the
// bound text before the call returns.
static inline sqlite3_destructor_type spur_sqlite_transient(void) { return SQLITE_TRANSIENT; }
