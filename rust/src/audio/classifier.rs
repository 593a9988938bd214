//! Chromaprint TEST2 classifiers: 16 Haar-like filters over a 16x12 chroma window,
//! each quantised to a 2-bit Gray code, giving one 32-bit item per chroma row.

/// Chroma bins per row.
pub const CHROMA: usize = 12;
/// Rows (frames) one item looks at: the widest classifier (chromaprint.md 1.2).
pub const WINDOW: usize = 16;

/// One Haar-like filter: `kind` 0..=5, chroma rows `y..y+height`, `width` frames in time.
#[derive(Clone, Copy, Debug)]
pub struct Filter {
    /// Filter type 0..=5 (chromaprint.md 1.2, "Filter geometry").
    pub kind: u8,
    /// First chroma bin.
    pub y: usize,
    /// Chroma extent.
    pub height: usize,
    /// Time extent in frames.
    pub width: usize,
}

/// A filter and the three thresholds that quantise its value to 0..=3.
#[derive(Clone, Copy, Debug)]
pub struct Classifier {
    /// The filter.
    pub filter: Filter,
    /// Quantiser thresholds t0 <= t1 <= t2.
    pub thresholds: [f64; 3],
}

const fn c(kind: u8, y: usize, height: usize, width: usize, t: [f64; 3]) -> Classifier {
    Classifier {
        filter: Filter {
            kind,
            y,
            height,
            width,
        },
        thresholds: t,
    }
}

/// `kClassifiersTest2`, "trained on 60k pairs based on eMusic samples (mp3)" (chromaprint.md 1.2).
pub const TEST2: [Classifier; 16] = [
    c(0, 4, 3, 15, [1.98215, 2.35817, 2.63523]),
    c(4, 4, 6, 15, [-1.03809, -0.651211, -0.282167]),
    c(1, 0, 4, 16, [-0.298702, 0.119262, 0.558497]),
    c(3, 8, 2, 12, [-0.105439, 0.0153946, 0.135898]),
    c(3, 4, 4, 8, [-0.142891, 0.0258736, 0.200632]),
    c(4, 0, 3, 5, [-0.826319, -0.590612, -0.368214]),
    c(1, 2, 2, 9, [-0.557409, -0.233035, 0.0534525]),
    c(2, 7, 3, 4, [-0.0646826, 0.00620476, 0.0784847]),
    c(2, 6, 2, 16, [-0.192387, -0.029699, 0.215855]),
    c(2, 1, 3, 2, [-0.0397818, -0.00568076, 0.0292026]),
    c(5, 10, 1, 15, [-0.53823, -0.369934, -0.190235]),
    c(3, 6, 2, 10, [-0.124877, 0.0296483, 0.139239]),
    c(2, 1, 1, 14, [-0.101475, 0.0225617, 0.231971]),
    c(3, 5, 6, 4, [-0.0799915, -0.00729616, 0.063262]),
    c(1, 9, 2, 12, [-0.272556, 0.019424, 0.302559]),
    c(3, 4, 2, 14, [-0.164292, -0.0321188, 0.0846339]),
];

/// Gray code of a quantised value: 0→0, 1→1, 2→3, 3→2 (chromaprint.md 1.2).
const GRAY: [u32; 4] = [0, 1, 3, 2];

/// Quantise `v` with thresholds `t`: v < t1 ? (v < t0 ? 0 : 1) : (v < t2 ? 2 : 3).
pub fn quantize(v: f64, t: &[f64; 3]) -> u32 {
    if v < t[1] {
        if v < t[0] {
            0
        } else {
            1
        }
    } else if v < t[2] {
        2
    } else {
        3
    }
}

/// Integral image of chroma rows, cumulative from the start of the stream, that keeps
/// only the rows the next item needs. Appending rows one at a time yields items.
pub struct ItemCalculator {
    // rows[r] = column-inclusive prefix sums of rows 0..=r (r counted from `first_row`).
    rows: std::collections::VecDeque<[f64; CHROMA + 1]>,
    // Cumulative sum before the oldest kept row (the "row -1" of the window).
    base: [f64; CHROMA + 1],
    added: usize,
}

impl Default for ItemCalculator {
    fn default() -> Self {
        Self::new()
    }
}

impl ItemCalculator {
    /// An empty image.
    pub fn new() -> Self {
        Self {
            rows: std::collections::VecDeque::with_capacity(WINDOW + 1),
            base: [0.0; CHROMA + 1],
            added: 0,
        }
    }

    /// Append one normalised chroma row; returns the item it completes, if any
    /// (item i is computed from rows i..i+16).
    pub fn push(&mut self, row: &[f64; CHROMA]) -> Option<u32> {
        let prev = *self.rows.back().unwrap_or(&self.base);
        let mut next = [0.0; CHROMA + 1];
        // next[c + 1] = sum of rows 0..=r, columns 0..=c; next[0] = 0.
        let mut acc = 0.0;
        for col in 0..CHROMA {
            acc += row[col];
            next[col + 1] = prev[col + 1] + acc;
        }
        if self.rows.len() == WINDOW {
            self.base = self.rows.pop_front().expect("window is full");
        }
        self.rows.push_back(next);
        self.added += 1;
        (self.rows.len() == WINDOW).then(|| self.item())
    }

    /// Number of rows appended so far.
    pub fn rows_added(&self) -> usize {
        self.added
    }

    /// Cumulative sum at window-relative row boundary `r` (0 = before the window) and
    /// column boundary `c` (0 = before column 0).
    #[inline]
    fn at(&self, r: usize, c: usize) -> f64 {
        if r == 0 {
            self.base[c]
        } else {
            self.rows[r - 1][c]
        }
    }

    /// Sum over window rows [r1, r2) and chroma columns [c1, c2).
    #[inline]
    fn area(&self, r1: usize, c1: usize, r2: usize, c2: usize) -> f64 {
        self.at(r2, c2) - self.at(r1, c2) - self.at(r2, c1) + self.at(r1, c1)
    }

    fn filter(&self, f: &Filter) -> f64 {
        let (x, y, w, h) = (0, f.y, f.width, f.height);
        let (a, b) = match f.kind {
            0 => (self.area(x, y, x + w, y + h), 0.0),
            1 => {
                let h2 = h / 2;
                (
                    self.area(x, y + h2, x + w, y + h),
                    self.area(x, y, x + w, y + h2),
                )
            }
            2 => {
                let w2 = w / 2;
                (
                    self.area(x + w2, y, x + w, y + h),
                    self.area(x, y, x + w2, y + h),
                )
            }
            3 => {
                let (w2, h2) = (w / 2, h / 2);
                (
                    self.area(x, y + h2, x + w2, y + h) + self.area(x + w2, y, x + w, y + h2),
                    self.area(x, y, x + w2, y + h2) + self.area(x + w2, y + h2, x + w, y + h),
                )
            }
            4 => {
                let h3 = h / 3;
                (
                    self.area(x, y + h3, x + w, y + 2 * h3),
                    self.area(x, y, x + w, y + h3) + self.area(x, y + 2 * h3, x + w, y + h),
                )
            }
            _ => {
                let w3 = w / 3;
                (
                    self.area(x + w3, y, x + 2 * w3, y + h),
                    self.area(x, y, x + w3, y + h) + self.area(x + 2 * w3, y, x + w, y + h),
                )
            }
        };
        // Compare function: log((1 + a) / (1 + b)) (chromaprint.md 1.2).
        ((1.0 + a) / (1.0 + b)).ln()
    }

    fn item(&self) -> u32 {
        TEST2.iter().fold(0u32, |bits, cl| {
            (bits << 2) | GRAY[quantize(self.filter(&cl.filter), &cl.thresholds) as usize]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_image_is_the_silence_item() {
        let mut calc = ItemCalculator::new();
        let items: Vec<u32> = (0..20).filter_map(|_| calc.push(&[0.0; CHROMA])).collect();
        assert_eq!(items.len(), 20 - WINDOW + 1);
        // chromaprint.md 1.2: all-zero chroma gives 627964279.
        assert!(items.iter().all(|&i| i == 627_964_279));
    }

    #[test]
    fn quantizer_boundaries() {
        let t = [-1.0, 0.0, 1.0];
        assert_eq!(quantize(-1.5, &t), 0);
        assert_eq!(quantize(-1.0, &t), 1);
        assert_eq!(quantize(0.0, &t), 2);
        assert_eq!(quantize(1.0, &t), 3);
    }

    #[test]
    fn area_matches_direct_sum() {
        let mut calc = ItemCalculator::new();
        let mut rows = Vec::new();
        for r in 0..40 {
            let row: [f64; CHROMA] = std::array::from_fn(|c| ((r * 31 + c * 17) % 13) as f64 / 7.0);
            rows.push(row);
            calc.push(&row);
        }
        let first = 40 - WINDOW;
        let direct: f64 = rows[first + 3..first + 9]
            .iter()
            .map(|r| r[2..7].iter().sum::<f64>())
            .sum();
        assert!((calc.area(3, 2, 9, 7) - direct).abs() < 1e-9);
    }
}
