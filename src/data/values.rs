//! The values of a feature column as the rest of the program sees them:
//! numbers, or category codes with their labels.

/// The values of one feature column.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValues {
    /// Numbers; a missing cell is NaN.
    Numeric(Vec<f64>),
    /// Category labels, one code per cell (see [`Categories`]).
    Categorical(Categories),
}

/// The labels of a categorical column: each distinct label once, and one
/// `u32` code per cell. A table of a million rows holds 4 MB per column this
/// way, where a `String` per cell took about 40.
///
/// ```
/// use healthscore::data::values::Categories;
/// let c = Categories::from_labels([Some("pro"), None, Some("basic"), Some("pro")]);
/// assert_eq!(c.get(3), Some("pro"));
/// assert_eq!(c.get(1), None);
/// assert_eq!(c.levels().len(), 2);
/// // One value per level, plus one for a missing cell, looked up by `slot`.
/// let seats = c.map_levels(|l| if l == Some("pro") { 10 } else { 1 });
/// assert_eq!(seats[c.slot(0)], 10);
/// assert_eq!(seats[c.slot(1)], 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Categories {
    levels: Vec<String>,
    codes: Vec<u32>,
}

/// The code of a missing cell in [`Categories`].
pub(crate) const MISSING_CODE: u32 = u32::MAX;

impl Categories {
    /// The labels in order (`None` = missing); levels are numbered as first seen.
    pub fn from_labels<S: AsRef<str>>(labels: impl IntoIterator<Item = Option<S>>) -> Categories {
        let mut index: hashbrown::HashMap<String, u32> = hashbrown::HashMap::new();
        let mut out = Categories::default();
        for label in labels {
            let code = match label {
                None => MISSING_CODE,
                Some(l) => {
                    let l = l.as_ref();
                    match index.get(l) {
                        Some(&c) => c,
                        None => {
                            let c = out.levels.len() as u32;
                            index.insert(l.to_string(), c);
                            out.levels.push(l.to_string());
                            c
                        }
                    }
                }
            };
            out.codes.push(code);
        }
        out
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when there are no cells.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The label of row `r` (`None` when missing).
    pub fn get(&self, r: usize) -> Option<&str> {
        match self.codes[r] {
            MISSING_CODE => None,
            c => Some(&self.levels[c as usize]),
        }
    }

    /// The labels in row order.
    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        (0..self.len()).map(|r| self.get(r))
    }

    /// The distinct labels; a level may have no cell left after [`Categories::select`].
    pub fn levels(&self) -> &[String] {
        &self.levels
    }

    /// Where row `r` reads a vector from [`Categories::map_levels`]: its
    /// level's index, or the last slot when the cell is missing.
    pub fn slot(&self, r: usize) -> usize {
        match self.codes[r] {
            MISSING_CODE => self.levels.len(),
            c => c as usize,
        }
    }

    /// `f` of every level, then of a missing cell: a lookup table for [`Categories::slot`],
    /// so that work per label is done once per level, not once per cell.
    pub fn map_levels<'a, T>(&'a self, mut f: impl FnMut(Option<&'a str>) -> T) -> Vec<T> {
        let mut out: Vec<T> = self.levels.iter().map(|l| f(Some(l))).collect();
        out.push(f(None));
        out
    }

    /// Appends the cells of `other`, renumbering its levels into these.
    pub fn append(&mut self, other: &Categories) {
        let index: hashbrown::HashMap<&str, u32> = self.levels.iter().enumerate().map(|(k, l)| (l.as_str(), k as u32)).collect();
        let mut added = vec![];
        let map: Vec<u32> = other
            .levels
            .iter()
            .map(|l| match index.get(l.as_str()) {
                Some(&k) => k,
                None => {
                    added.push(l.clone());
                    (self.levels.len() + added.len() - 1) as u32
                }
            })
            .collect();
        drop(index);
        self.levels.extend(added);
        self.codes
            .extend(other.codes.iter().map(|&c| if c == MISSING_CODE { c } else { map[c as usize] }));
    }

    /// Room for `more` cells without growing.
    pub(crate) fn reserve_exact(&mut self, more: usize) {
        self.codes.reserve_exact(more);
    }

    /// The cells of the rows `rows`, in that order (the levels are kept).
    pub fn select(&self, rows: &[usize]) -> Categories {
        Categories {
            levels: self.levels.clone(),
            codes: rows.iter().map(|&r| self.codes[r]).collect(),
        }
    }
}

/// Collects labels (`None` = missing) as [`Categories::from_labels`] does.
impl<S: AsRef<str>> FromIterator<Option<S>> for Categories {
    fn from_iter<I: IntoIterator<Item = Option<S>>>(labels: I) -> Categories {
        Categories::from_labels(labels)
    }
}

/// Equal when the labels are equal row by row, however the levels are numbered.
impl PartialEq for Categories {
    fn eq(&self, other: &Categories) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}
