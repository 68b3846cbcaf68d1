package view

// The SVG sizes boxes to their text without a browser to measure it (the
// page asks a canvas): with Helvetica's advance widths, the first font of
// the drawing's font-family, from Adobe's core-font metrics (AFM), in
// thousandths of the font size, for printable ASCII. Arial has the same
// widths. Other characters take a conservative 0.6 em, and those of the
// wide East Asian blocks a full em.

// helvetica and helveticaBold are the widths of ' ' through '~'.
var (
	helvetica = [95]uint16{
		278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '–'/'
		556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // '0'–'?'
		1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // '@'–'O'
		667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 'P'–'_'
		333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // '`'–'o'
		556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'–'~'
	}
	helveticaBold = [95]uint16{
		278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
		556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
		975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
		667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
		333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
		611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
	}
)

// textWidth is the width of s drawn at size px, bold or not.
func textWidth(s string, px float64, bold bool) float64 {
	table := &helvetica
	if bold {
		table = &helveticaBold
	}
	total := 0
	for _, r := range s {
		switch {
		case r >= ' ' && r <= '~':
			total += int(table[r-' '])
		case r >= 0x2e80 && r <= 0xffdc: // CJK, Hangul, full-width forms
			total += 1000
		default:
			total += 600
		}
	}
	return float64(total) * px / 1000
}
