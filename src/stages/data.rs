//! Data stage kinds (under construction).

use super::StageKind;

pub fn kinds() -> Vec<Box<dyn StageKind>> {
    Vec::new()
}
