import CNcursesw
import Foundation
import SpurCore

/// The only code that calls ncurses, used from the UI thread only.
final class NcursesTerminal {
    private var screen: OpaquePointer?
    private var pairs: [Int64: Int16] = [:]
    private var nextPair: Int16 = 1
    private let colors: Bool
    private let maxPairs: Int

    init(useColor: Bool) throws {
        setlocale(LC_ALL, "")   // without it wide characters (▀, braille) print as garbage
        // A parent may hand us signals blocked or ignored (both survive exec);
        // then ncurses never hears of a resize, and a closed terminal (SIGHUP)
        // would leave us running forever. Take them back.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for s in [SIGWINCH, SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblock, s) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        signal(SIGWINCH, SIG_DFL)
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw InputError(file: "terminal", "spurscope ui needs an interactive terminal on standard input and output")
        }
        // newterm returns NULL instead of exiting when TERM is unusable.
        guard let s = newterm(nil, spur_stdout(), spur_stdin()) else {
            throw InputError(file: "TERM", "'\(ProcessInfo.processInfo.environment["TERM"] ?? "")' is not a terminal ncurses knows")
        }
        screen = s
        set_term(s)
        cbreak()
        noecho()
        nonl()
        keypad(spur_stdscr(), true)
        curs_set(0)
        set_escdelay(25)
        wtimeout(spur_stdscr(), 50)
        spur_mouse_on()
        if useColor && has_colors() {
            start_color()
            use_default_colors()
            colors = true
            maxPairs = Int(min(spur_color_pairs(), 32767))
        } else {
            colors = false
            maxPairs = 0
        }
    }

    func close() {
        endwin()
        if let screen { delscreen(screen) }
        screen = nil
    }

    var size: (width: Int, height: Int) { (Int(getmaxx(spur_stdscr())), Int(getmaxy(spur_stdscr()))) }

    private func colorIndex(_ c: Color) -> Int32 {
        switch c {
        case .terminalDefault: return -1
        case .rgb(let r, let g, let b):
            if spur_colors() >= 256 { return Int32(TerminalArt.xterm256(r, g, b)) }
            // Eight colours: the nearest of black, red, green, yellow, blue, magenta, cyan, white.
            return Int32((r > 127 ? 1 : 0) | (g > 127 ? 2 : 0) | (b > 127 ? 4 : 0))
        }
    }

    private func pair(_ style: Style) -> Int16 {
        guard colors else { return 0 }
        let fg = colorIndex(style.foreground), bg = colorIndex(style.background)
        let key = Int64(fg + 1) << 16 | Int64(bg + 1)
        if let p = pairs[key] { return p }
        if Int(nextPair) >= maxPairs {   // out of pairs: start over (a full redraw follows)
            pairs.removeAll()
            nextPair = 1
        }
        let p = nextPair
        init_pair(p, Int16(fg), Int16(bg))
        pairs[key] = p
        nextPair += 1
        return p
    }

    func draw(_ grid: CellGrid) {
        var c = cchar_t()
        for y in 0..<grid.height {
            for x in 0..<grid.width {
                let cell = grid[x, y]
                var attrs: attr_t = 0
                if cell.style.bold { attrs |= spur_a_bold() }
                if cell.style.reverse { attrs |= spur_a_reverse() }
                let scalars = Array(cell.character.unicodeScalars.prefix(4)).map { wchar_t(bitPattern: $0.value) } + [0]
                _ = scalars.withUnsafeBufferPointer { setcchar(&c, $0.baseAddress, attrs, pair(cell.style), nil) }
                // The bottom-right cell would scroll the screen: ncurses refuses it, harmlessly.
                mvadd_wch(Int32(y), Int32(x), &c)
            }
        }
        refresh()
    }

    /// The next key, or nil after the 50 ms timeout.
    func readKey() -> Key? {
        var wch: wint_t = 0
        let rc = wget_wch(spur_stdscr(), &wch)
        if rc == ERR { return nil }
        if rc == KEY_CODE_YES {
            switch Int32(wch) {
            case KEY_UP: return .up
            case KEY_DOWN: return .down
            case KEY_LEFT: return .left
            case KEY_RIGHT: return .right
            case KEY_PPAGE: return .pageUp
            case KEY_NPAGE: return .pageDown
            case KEY_HOME: return .home
            case KEY_END: return .end
            case KEY_BTAB: return .backTab
            case KEY_ENTER: return .enter
            case KEY_BACKSPACE: return .backspace
            case KEY_DC: return .delete
            case KEY_RESIZE: return .resize
            case spur_key_f(1): return .f1
            case KEY_MOUSE:
                var x: Int32 = 0, y: Int32 = 0
                switch spur_mouse_event(&x, &y) {
                case 1: return .click(x: Int(x), y: Int(y))
                case 4: return .wheelUp
                case 5: return .wheelDown
                default: return nil
                }
            default: return nil
            }
        }
        switch wch {
        case 9: return .tab
        case 10, 13: return .enter
        case 27: return .escape
        case 8, 127: return .backspace
        case 1...26: return .control(Character(Unicode.Scalar(UInt8(wch) + 0x60)))
        default:
            guard let scalar = Unicode.Scalar(UInt32(wch)), wch >= 32 else { return nil }
            return .character(Character(scalar))
        }
    }
}

/// Terminal restoration on Ctrl-C, termination and crash signals.
enum TerminalSignals {
    nonisolated(unsafe) static var quitRequested: sig_atomic_t = 0

    static func install() {
        signal(SIGINT) { _ in TerminalSignals.quitRequested = 1 }
        signal(SIGTERM) { _ in TerminalSignals.quitRequested = 1 }
        signal(SIGHUP) { _ in TerminalSignals.quitRequested = 1 }   // the terminal went away
        for s in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT] {
            signal(s) { sig in
                endwin()   // leave the terminal usable, then die as the signal would
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
    }
}

/// The UI loop: keys and background results in, frames out.
public enum TerminalUI {
    public static func run(_ app: App) throws {
        let term = try NcursesTerminal(useColor: !app.theme.monochrome)
        TerminalSignals.install()
        defer { term.close() }
        var lastGrid: CellGrid?
        var lastSize = (width: -1, height: -1)
        app.viewportHeight = term.size.height
        app.viewportWidth = term.size.width
        while !app.shouldQuit {
            if TerminalSignals.quitRequested != 0 { app.engineCancel(); break }
            var changed = app.drain()
            while let key = term.readKey() {
                app.handle(key)
                changed = true
                if key == .resize { lastGrid = nil }
                if app.shouldQuit { break }
            }
            let size = term.size
            if size != lastSize { lastSize = size; lastGrid = nil; changed = true; app.viewportHeight = size.height; app.viewportWidth = size.width }
            // Redraw once per batch of messages; the clock on the Train screen ticks too.
            if changed || lastGrid == nil || !app.isIdle {
                let grid = Views.render(app, width: size.width, height: size.height)
                if grid != lastGrid {
                    if lastGrid == nil { clear() }
                    term.draw(grid)
                    lastGrid = grid
                    app.targets = grid.targets
                }
            }
        }
    }
}
