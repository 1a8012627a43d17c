//! The font charts are drawn with: DejaVu Sans (regular and bold), compiled into the
//! binary and registered with plotters' `ab_glyph` text renderer.
//!
//! Invariant: chart text never depends on the machine — no fontconfig, no system fonts —
//! so a PNG rendered on a bare CI machine has the same bytes as on a workstation. The
//! font files and their licence live in `assets/fonts/`.

use plotters::style::FontStyle;
use std::sync::OnceLock;

/// The family name charts ask plotters for.
pub const FAMILY: &str = "sans-serif";

static REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Registers the embedded fonts with plotters (once per process). Returns an error
/// message if the embedded files are not valid fonts (a packaging bug).
pub fn ensure_registered() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let bad = |style: &str| format!("the embedded {style} chart font is not a valid TrueType file");
        plotters::style::register_font(FAMILY, FontStyle::Normal, REGULAR).map_err(|_| bad("regular"))?;
        plotters::style::register_font(FAMILY, FontStyle::Bold, BOLD).map_err(|_| bad("bold"))?;
        Ok(())
    })
    .clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_fonts_register() {
        assert_eq!(super::ensure_registered(), Ok(()));
        assert_eq!(super::ensure_registered(), Ok(()));
    }
}
