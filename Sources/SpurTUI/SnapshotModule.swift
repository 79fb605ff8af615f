// UIModel moved to SpurSnapshot so `spurscope report` reads the same values
// without linking ncurses; re-exported so the screens' files need no new import.
@_exported import SpurSnapshot
