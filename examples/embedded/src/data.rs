//! The first rows of the 8×8 digits, parsed from the repository's CSV at
//! compile time into a table in flash (a malformed file is a build error).
//!
//! Data: UCI "Optical Recognition of Handwritten Digits" (E. Alpaydin,
//! C. Kaynak, 1998, <https://doi.org/10.24432/C50P49>), as shipped in
//! scikit-learn, CC BY 4.0; the file and its README are in
//! `crates/fadam-testkit/data/`.

/// Pixels per image (8×8, row by row, each 0..=16).
pub const PIXELS: usize = 64;
/// Classes (the digits 0..=9).
pub const CLASSES: usize = 10;
/// Rows trained on: the first rows of the file.
pub const TRAIN: usize = 512;
/// Rows held out for the accuracy: the rows after the training rows.
pub const TEST: usize = 256;

/// `N` labelled images, in the file's order.
#[derive(Debug)]
pub struct Table<const N: usize> {
    /// Pixel values 0..=16.
    pub pixels: [[u8; PIXELS]; N],
    /// Class labels 0..=9.
    pub labels: [u8; N],
}

/// The training rows, then the held-out rows.
pub type Digits = Table<{ TRAIN + TEST }>;

impl Digits {
    /// The training rows (pixels, labels).
    pub fn train(&self) -> (&[[u8; PIXELS]], &[u8]) {
        (&self.pixels[..TRAIN], &self.labels[..TRAIN])
    }

    /// The held-out rows (pixels, labels).
    pub fn test(&self) -> (&[[u8; PIXELS]], &[u8]) {
        (&self.pixels[TRAIN..], &self.labels[TRAIN..])
    }
}

/// The table (about 50 KB of flash); only the parsed rows reach the binary.
pub static DIGITS: Digits = parse(include_bytes!(
    "../../../crates/fadam-testkit/data/digits.csv"
));

/// Parses the first `N` lines of 65 comma-separated integers (64 pixels
/// 0..=16 and a label 0..=9); the rest of the file is ignored. Panics (a
/// build error, in a constant) on anything else.
const fn parse<const N: usize>(csv: &[u8]) -> Table<N> {
    let mut digits = Table {
        pixels: [[0; PIXELS]; N],
        labels: [0; N],
    };
    let mut at = 0;
    let mut row = 0;
    while row < N {
        let mut col = 0;
        while col <= PIXELS {
            let mut value = 0u32;
            let start = at;
            while at < csv.len() && csv[at].is_ascii_digit() && value <= 255 {
                value = value * 10 + (csv[at] - b'0') as u32;
                at += 1;
            }
            if at == start {
                panic!("digits.csv: expected a number");
            }
            let last = col == PIXELS;
            // Tolerates a missing final newline and CRLF line ends.
            if last && at < csv.len() && csv[at] == b'\r' {
                at += 1;
            }
            let end = if last { b'\n' } else { b',' };
            if at < csv.len() && csv[at] != end || at == csv.len() && !(last && row + 1 == N) {
                panic!("digits.csv: expected 65 comma-separated values per line");
            }
            at += 1;
            if last {
                if value >= CLASSES as u32 {
                    panic!("digits.csv: a label is not 0..=9");
                }
                digits.labels[row] = value as u8;
            } else {
                if value > 16 {
                    panic!("digits.csv: a pixel is not 0..=16");
                }
                digits.pixels[row][col] = value as u8;
            }
            col += 1;
        }
        row += 1;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line of 64 pixels `pixel` and the label `label`.
    fn line(pixel: &str, label: &str) -> String {
        let mut values = vec![pixel; PIXELS];
        values.push(label);
        values.join(",")
    }

    #[test]
    fn parses_crlf_and_a_missing_last_newline() {
        let csv = format!("{}\r\n{}", line("16", "9"), line("0", "0"));
        let table = parse::<2>(csv.as_bytes());
        assert_eq!(table.pixels[0], [16; PIXELS]);
        assert_eq!(table.labels, [9, 0]);
        // Rows past the first N are not read.
        let csv = format!("{}\n{}\nnot digits", line("3", "1"), line("4", "2"));
        assert_eq!(parse::<2>(csv.as_bytes()).labels, [1, 2]);
    }

    #[test]
    #[should_panic(expected = "65 comma-separated values")]
    fn refuses_a_short_line() {
        let csv = format!("{}\n", line("1", "2").rsplit_once(',').unwrap().0);
        parse::<1>(csv.as_bytes());
    }

    #[test]
    #[should_panic(expected = "65 comma-separated values")]
    fn refuses_too_few_rows() {
        parse::<2>(line("1", "2").as_bytes());
    }

    #[test]
    #[should_panic(expected = "a pixel is not 0..=16")]
    fn refuses_a_pixel_over_16() {
        parse::<1>(line("17", "2").as_bytes());
    }

    #[test]
    #[should_panic(expected = "a label is not 0..=9")]
    fn refuses_a_label_over_9() {
        parse::<1>(line("1", "10").as_bytes());
    }

    #[test]
    #[should_panic(expected = "65 comma-separated values")]
    fn refuses_a_huge_number_without_overflow() {
        parse::<1>(line("99999999999", "1").as_bytes());
    }

    #[test]
    #[should_panic(expected = "expected a number")]
    fn refuses_an_empty_field() {
        parse::<1>(line("", "1").as_bytes());
    }

    #[test]
    fn first_row_and_counts() {
        let first = b"0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,0,3,15,2,0,11,8,0,0,4,12,0,0,8,8,0,0,5,8,0,0,9,8,0,0,4,11,0,1,12,7,0,0,2,14,5,10,12,0,0,0,0,6,13,10,0,0,0,0";
        assert!(
            DIGITS.pixels[0]
                .iter()
                .zip(first.split(|&b| b == b','))
                .all(|(&p, s)| { core::str::from_utf8(s).unwrap().parse::<u8>().unwrap() == p })
        );
        assert_eq!(DIGITS.labels[0], 0);
        let (train, labels) = DIGITS.train();
        assert_eq!((train.len(), labels.len()), (TRAIN, TRAIN));
        assert_eq!(DIGITS.test().0.len(), TEST);
        // Every class occurs in both parts.
        for class in 0..CLASSES as u8 {
            assert!(DIGITS.train().1.contains(&class));
            assert!(DIGITS.test().1.contains(&class));
        }
    }
}
