//! The account table: ids, dates, labels, revenue, segment and one column of
//! values per feature, as plain vectors; and the checks that turn a frame
//! block into one (types, labels, dates, duplicate ids).
//!
//! Everything downstream of [`crate::data::read`] works on the [`Table`] it
//! returns. Every problem is reported with the file, the column and the first
//! offending row (1-based, header not counted).

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;

use crate::data::frame::Frame;
use crate::data::spec::{Columns, FeatureDef, LabelValues};
use crate::data::values::FeatureValues;
use crate::error::{Error, Result};

/// One feature column with its definition from the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeature {
    pub def: FeatureDef,
    pub values: FeatureValues,
}

/// A checked account table.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file it came from (for messages).
    pub path: PathBuf,
    pub ids: Vec<String>,
    /// Snapshot dates when the spec names a date column.
    pub dates: Option<Vec<NaiveDate>>,
    /// Risk label per row (None = unknown) when the column is present.
    pub risk: Option<Vec<Option<u8>>>,
    /// Upsell label per row when the column is present.
    pub upsell: Option<Vec<Option<u8>>>,
    /// Revenue (ARR) per row when the column is present.
    pub revenue: Option<Vec<Option<f64>>>,
    /// Segment per row when the spec names one (missing → `"(missing)"`).
    pub segment: Option<Vec<String>>,
    pub features: Vec<RawFeature>,
    /// The spec's `columns.keep` that the table has, as text, in the spec's
    /// order: passed through to the scores.
    pub kept: Vec<(String, Vec<Option<String>>)>,
}

/// Whether label columns must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// Training: the spec's label columns must exist.
    Required,
    /// Scoring / outcomes: read them when present.
    IfPresent,
}

impl Table {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Keeps the rows whose index is in `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Table {
        fn pick<T: Clone>(v: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&r| v[r].clone()).collect()
        }
        Table {
            path: self.path.clone(),
            ids: pick(&self.ids, rows),
            dates: self.dates.as_ref().map(|v| pick(v, rows)),
            risk: self.risk.as_ref().map(|v| pick(v, rows)),
            upsell: self.upsell.as_ref().map(|v| pick(v, rows)),
            revenue: self.revenue.as_ref().map(|v| pick(v, rows)),
            segment: self.segment.as_ref().map(|v| pick(v, rows)),
            features: self
                .features
                .iter()
                .map(|f| RawFeature {
                    def: f.def.clone(),
                    values: match &f.values {
                        FeatureValues::Numeric(v) => FeatureValues::Numeric(pick(v, rows)),
                        FeatureValues::Categorical(v) => FeatureValues::Categorical(v.select(rows)),
                    },
                })
                .collect(),
            kept: self.kept.iter().map(|(n, v)| (n.clone(), pick(v, rows))).collect(),
        }
    }

    /// Room for `more` rows in every column without growing.
    pub(crate) fn reserve_exact(&mut self, more: usize) {
        self.ids.reserve_exact(more);
        if let Some(v) = &mut self.dates {
            v.reserve_exact(more);
        }
        for v in [&mut self.risk, &mut self.upsell].into_iter().flatten() {
            v.reserve_exact(more);
        }
        if let Some(v) = &mut self.revenue {
            v.reserve_exact(more);
        }
        if let Some(v) = &mut self.segment {
            v.reserve_exact(more);
        }
        for f in &mut self.features {
            match &mut f.values {
                FeatureValues::Numeric(v) => v.reserve_exact(more),
                FeatureValues::Categorical(v) => v.reserve_exact(more),
            }
        }
        for (_, v) in &mut self.kept {
            v.reserve_exact(more);
        }
    }

    /// Appends the rows of `other`, a later block of the same file (same
    /// columns, same features in the same order).
    pub(crate) fn append(&mut self, other: Table) {
        fn extend<T>(a: &mut Option<Vec<T>>, b: Option<Vec<T>>) {
            if let (Some(a), Some(b)) = (a, b) {
                a.extend(b);
            }
        }
        self.ids.extend(other.ids);
        extend(&mut self.dates, other.dates);
        extend(&mut self.risk, other.risk);
        extend(&mut self.upsell, other.upsell);
        extend(&mut self.revenue, other.revenue);
        extend(&mut self.segment, other.segment);
        for (a, b) in self.features.iter_mut().zip(other.features) {
            match (&mut a.values, b.values) {
                (FeatureValues::Numeric(a), FeatureValues::Numeric(b)) => a.extend(b),
                (FeatureValues::Categorical(a), FeatureValues::Categorical(b)) => a.append(&b),
                _ => unreachable!("blocks of one file read each feature as its spec kind"),
            }
        }
        for ((_, a), (_, b)) in self.kept.iter_mut().zip(other.kept) {
            a.extend(b);
        }
    }

    /// Each account's row, its latest snapshot when the table has several
    /// (the first of equal dates).
    pub fn latest_rows(&self) -> std::collections::HashMap<&str, usize> {
        let mut latest: std::collections::HashMap<&str, usize> = std::collections::HashMap::with_capacity(self.len());
        for r in 0..self.len() {
            let e = latest.entry(self.ids[r].as_str()).or_insert(r);
            if self.dates.as_ref().is_some_and(|d| d[r] > d[*e]) {
                *e = r;
            }
        }
        latest
    }

    /// The feature with this name.
    pub fn feature(&self, name: &str) -> Option<&RawFeature> {
        self.features.iter().find(|f| f.def.name == name)
    }

    /// The label vector of a model, if present.
    pub fn labels(&self, target: crate::data::spec::Target) -> Option<&Vec<Option<u8>>> {
        match target {
            crate::data::spec::Target::Risk => self.risk.as_ref(),
            crate::data::spec::Target::Upsell => self.upsell.as_ref(),
        }
    }
}

/// Account ids (with their dates) met so far, so that a duplicate is found
/// across blocks too. Entry k is row k of the file. The ids are kept end to
/// end in one buffer and the hash table holds entry numbers: no allocation per
/// id, and a table a quarter of the size of one keyed by owned strings.
#[derive(Default)]
pub(crate) struct Seen {
    text: String,
    /// End of each id in `text`; an id starts where the one before ends.
    ends: Vec<usize>,
    dates: Vec<Option<NaiveDate>>,
    table: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl Seen {
    pub(crate) fn with_capacity(rows: usize) -> Seen {
        Seen {
            table: hashbrown::HashTable::with_capacity(rows),
            ends: Vec::with_capacity(rows),
            dates: Vec::with_capacity(rows),
            ..Seen::default()
        }
    }

    /// Records the next row's id and date; returns the earlier row that has
    /// them too, if any.
    fn insert(&mut self, id: &str, date: Option<NaiveDate>) -> Option<usize> {
        use std::hash::BuildHasher;
        let Seen {
            text,
            ends,
            dates,
            table,
            hasher,
        } = self;
        let key = |k: u32| {
            let k = k as usize;
            let start = if k == 0 { 0 } else { ends[k - 1] };
            (&text[start..ends[k]], dates[k])
        };
        let hash = hasher.hash_one((id, date));
        let next = u32::try_from(ends.len()).expect("fewer than 4 billion rows");
        match table.entry(hash, |&k| key(k) == (id, date), |&k| hasher.hash_one(key(k))) {
            hashbrown::hash_table::Entry::Occupied(first) => return Some(*first.get() as usize),
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(next);
            }
        }
        text.push_str(id);
        ends.push(text.len());
        dates.push(date);
        None
    }
}

/// As [`table_from_frame`] for the block of the file that starts at row `first_row`.
pub(crate) fn table_from_block(
    path: &Path,
    mut df: DataFrame,
    first_row: usize,
    columns: &Columns,
    defs: &[FeatureDef],
    labels: Labels,
    seen: &mut Seen,
) -> Result<Table> {
    // Every problem of the block is collected, so that one run names them all.
    let mut problems: Vec<Error> = Vec::new();
    let f = &Frame { path, df: &df, first_row };
    fn keep<T>(problems: &mut Vec<Error>, r: Result<T>) -> Option<T> {
        r.map_err(|e| problems.push(e)).ok()
    }
    let ids: Option<Vec<String>> = if columns.numbered_rows() {
        // No id column: each row is an account, named by its row of the file.
        Some((0..df.height()).map(|i| (first_row + i + 1).to_string()).collect())
    } else {
        keep(
            &mut problems,
            f.strings(&columns.id, "account id").and_then(|raw| {
                raw.into_iter()
                    .enumerate()
                    .map(|(i, v)| v.ok_or_else(|| f.bad(&columns.id, i, "the account id is empty; every row needs one".into())))
                    .collect::<Result<_>>()
            }),
        )
    };
    let dates = match &columns.date {
        Some(c) => keep(&mut problems, f.dates(c, "snapshot date")).map(Some),
        None => Some(None),
    };
    if let (Some(ids), Some(dates)) = (&ids, &dates) {
        keep(&mut problems, check_duplicates(f, &columns.id, ids, dates.as_deref(), seen));
    }
    let label = |c: &Option<String>, role: &str, values: Option<&LabelValues>| -> Result<Option<Vec<Option<u8>>>> {
        match c {
            Some(c) if labels == Labels::Required || f.has(c) => Ok(Some(f.labels(c, role, values)?)),
            _ => Ok(None),
        }
    };
    let risk = keep(
        &mut problems,
        label(&columns.risk_label, "risk label", columns.risk_values.as_ref()),
    );
    let upsell = keep(
        &mut problems,
        label(&columns.upsell_label, "upsell label", columns.upsell_values.as_ref()),
    );
    let revenue = keep(
        &mut problems,
        match &columns.revenue {
            Some(c) if f.has(c) || labels == Labels::Required => f.numbers(c, "revenue").map(Some),
            _ => Ok(None),
        },
    );
    let segment = keep(
        &mut problems,
        match &columns.segment {
            Some(c) => f
                .strings(c, "segment")
                .map(|v| Some(v.into_iter().map(|s| s.unwrap_or_else(|| "(missing)".into())).collect())),
            None => Ok(None),
        },
    );
    let kept: Option<Vec<(String, Vec<Option<String>>)>> = keep(
        &mut problems,
        columns
            .keep
            .iter()
            .filter(|c| f.has(c))
            .map(|c| Ok((c.clone(), f.strings(c, "kept column")?)))
            .collect(),
    );
    // Every feature column must exist (named against the whole frame) before any is moved out.
    let present: Vec<bool> = defs
        .iter()
        .map(|d| keep(&mut problems, f.column(&d.name, &format!("{} feature", d.category))).is_some())
        .collect();
    let mut features = Vec::with_capacity(defs.len());
    for (d, present) in defs.iter().zip(present) {
        if !present {
            continue;
        }
        let col = df.drop_in_place(&d.name).expect("checked above");
        let single = DataFrame::new_infer_height(vec![col]).map_err(|e| Error::Table {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let f = &Frame {
            path,
            df: &single,
            first_row,
        };
        let values = if d.categorical {
            f.categories(&d.name, &format!("{} feature", d.category))
                .map(FeatureValues::Categorical)
        } else {
            f.numeric_values(&d.name, &format!("{} feature", d.category))
                .map(FeatureValues::Numeric)
        };
        if let Some(values) = keep(&mut problems, values) {
            features.push(RawFeature { def: d.clone(), values });
        }
    }
    if problems.len() == 1 {
        return Err(problems.pop().expect("one problem"));
    }
    if !problems.is_empty() {
        return Err(Error::Schema {
            path: path.to_path_buf(),
            problems,
        });
    }
    let (Some(ids), Some(dates), Some(risk), Some(upsell), Some(revenue), Some(segment), Some(kept)) =
        (ids, dates, risk, upsell, revenue, segment, kept)
    else {
        unreachable!("every failed read left a problem");
    };
    Ok(Table {
        path: path.to_path_buf(),
        ids,
        dates,
        risk,
        upsell,
        revenue,
        segment,
        features,
        kept,
    })
}

fn check_duplicates(f: &Frame<'_>, id_col: &str, ids: &[String], dates: Option<&[NaiveDate]>, seen: &mut Seen) -> Result<()> {
    for (i, id) in ids.iter().enumerate() {
        let d = dates.map(|d| d[i]);
        let row = f.first_row + i;
        debug_assert_eq!(seen.ends.len(), row, "rows are met in file order");
        if let Some(first) = seen.insert(id, d) {
            return Err(Error::Duplicate {
                path: f.path.to_path_buf(),
                column: id_col.to_string(),
                row: row + 1,
                first: first + 1,
                id: id.clone(),
                date: d.map(|d| format!(" on {d}")).unwrap_or_default(),
            });
        }
    }
    Ok(())
}

/// Fails with [`Error::NoLabels`] when a label vector has no 0/1 value.
pub fn require_labeled(t: &Table, labels: &[Option<u8>], column: &str, model: &str) -> Result<()> {
    if labels.iter().all(Option::is_none) {
        return Err(Error::NoLabels {
            path: t.path.clone(),
            column: column.into(),
            model: model.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::read::{read_frame_text, read_table, table_from_frame, text_columns, TableBlocks, READ_BLOCK_ROWS};
    use crate::data::spec::Category;
    use crate::data::values::Categories;
    use crate::data::write::{OutColumn, OutTable};

    fn defs() -> Vec<FeatureDef> {
        vec![
            FeatureDef {
                name: "x".into(),
                category: Category::Usage,
                categorical: false,
            },
            FeatureDef {
                name: "plan".into(),
                category: Category::Adoption,
                categorical: true,
            },
        ]
    }

    fn columns() -> Columns {
        Columns {
            date: None,
            upsell_label: None,
            revenue: None,
            ..Default::default()
        }
    }

    /// A table of `n` rows: ids A0.., x = row, plan alternating, churned = row % 2.
    fn file(dir: &Path, name: &str, n: usize, edit: impl Fn(usize, &mut (String, String))) -> PathBuf {
        let mut ids = vec![];
        let mut xs = vec![];
        for r in 0..n {
            let mut cell = (format!("A{r}"), r.to_string());
            edit(r, &mut cell);
            ids.push(Some(cell.0));
            xs.push(Some(cell.1));
        }
        let mut t = OutTable::default();
        t.push("account_id", OutColumn::Text(ids));
        t.push("x", OutColumn::Text(xs));
        t.push(
            "plan",
            OutColumn::Text((0..n).map(|r| Some(["pro", "basic"][r % 2].to_string())).collect()),
        );
        t.push("churned", OutColumn::Int((0..n).map(|r| Some(r as i64 % 2)).collect()));
        let path = dir.join(name);
        let format = crate::data::write::Format::from_path(&path).unwrap();
        std::fs::write(&path, t.render(format).unwrap()).unwrap();
        path
    }

    fn blocks(path: &Path, rows: usize) -> Result<Vec<Table>> {
        TableBlocks::open(path, &columns(), &defs(), Labels::Required, rows)?.collect()
    }

    /// The values of the first (numeric) feature across blocks, in order.
    fn first_feature(parts: &[Table]) -> Vec<f64> {
        parts
            .iter()
            .flat_map(|t| match &t.features[0].values {
                FeatureValues::Numeric(v) => v.clone(),
                _ => panic!("numeric"),
            })
            .collect()
    }

    #[test]
    fn blocks_hold_the_same_rows_as_one_read() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["t.csv", "t.parquet"] {
            let path = file(dir.path(), name, 23, |_, _| {});
            let whole = read_table(&path, &columns(), &defs(), Labels::Required).unwrap();
            let parts = blocks(&path, 5).unwrap();
            assert_eq!(parts.iter().map(Table::len).collect::<Vec<_>>(), [5, 5, 5, 5, 3], "{name}");
            let ids: Vec<String> = parts.iter().flat_map(|t| t.ids.clone()).collect();
            assert_eq!(ids, whole.ids);
            let x = first_feature(&parts);
            assert_eq!(FeatureValues::Numeric(x), whole.features[0].values);
            let risk: Vec<Option<u8>> = parts.iter().flat_map(|t| t.risk.clone().unwrap()).collect();
            assert_eq!(Some(risk), whole.risk);
        }
    }

    /// A whole read joins blocks: labels first met in a later block, missing
    /// cells and every column come out as from one frame of the file.
    #[test]
    fn whole_reads_join_blocks_with_levels_met_late() {
        let dir = tempfile::tempdir().unwrap();
        let n = 2 * READ_BLOCK_ROWS + 10;
        let mut t = OutTable::default();
        t.push("account_id", OutColumn::Text((0..n).map(|r| Some(format!("A{r}"))).collect()));
        t.push(
            "x",
            OutColumn::Float((0..n).map(|r| (r % 13 != 0).then_some(r as f64 / 8.0)).collect()),
        );
        let plan = |r: usize| match r {
            _ if r.is_multiple_of(17) => None,
            _ if r > READ_BLOCK_ROWS + 5 && r.is_multiple_of(3) => Some("enterprise".to_string()),
            _ => Some(["pro", "basic"][r % 2].to_string()),
        };
        t.push("plan", OutColumn::Text((0..n).map(plan).collect()));
        t.push("churned", OutColumn::Int((0..n).map(|r| Some(r as i64 % 2)).collect()));
        for name in ["late.csv", "late.parquet"] {
            let path = dir.path().join(name);
            std::fs::write(&path, t.render(crate::data::write::Format::from_path(&path).unwrap()).unwrap()).unwrap();
            let read = read_table(&path, &columns(), &defs(), Labels::Required).unwrap();
            let frame = read_frame_text(&path, &text_columns(&columns(), &defs())).unwrap();
            let one = table_from_frame(&path, frame, &columns(), &defs(), Labels::Required).unwrap();
            assert_eq!(read.len(), n, "{name}");
            assert!(read.ids == one.ids && read.risk == one.risk, "{name}");
            let (FeatureValues::Numeric(a), FeatureValues::Numeric(b)) = (&read.features[0].values, &one.features[0].values) else {
                panic!("numeric")
            };
            assert!(a.iter().map(|x| x.to_bits()).eq(b.iter().map(|x| x.to_bits())), "{name}: x");
            assert!(read.features[1] == one.features[1], "{name}: plan");
            let FeatureValues::Categorical(c) = &read.features[1].values else {
                panic!("categorical")
            };
            assert!(c.iter().map(|l| l.map(String::from)).eq((0..n).map(plan)), "{name}: plan");
            assert_eq!(c.levels().len(), 3, "{name}: each label once");
        }
    }

    /// Parquet blocks are cut from windows that end with a row group: blocks
    /// that straddle row groups, and windows that end mid-block, still hand
    /// out every row once and in order.
    #[test]
    fn parquet_blocks_cross_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.parquet");
        let mut sink = crate::data::write::Sink::create(&path).unwrap();
        let mut first = 0;
        for n in [7, 9, 4, 1, 12] {
            let mut t = OutTable::default();
            t.push(
                "account_id",
                OutColumn::Text((first..first + n).map(|r| Some(format!("A{r}"))).collect()),
            );
            t.push("x", OutColumn::Float((first..first + n).map(|r| Some(r as f64)).collect()));
            t.push("plan", OutColumn::Text((0..n).map(|_| Some("pro".to_string())).collect()));
            t.push("churned", OutColumn::Int((0..n).map(|r| Some(r as i64 % 2)).collect()));
            sink.write(t).unwrap();
            first += n;
        }
        sink.finish().unwrap();
        for rows in [1, 2, 3, 5, 8, 40] {
            let parts = blocks(&path, rows).unwrap();
            let sizes: Vec<usize> = parts.iter().map(Table::len).collect();
            let mut expected = vec![rows; 33 / rows];
            expected.extend((33 % rows > 0).then_some(33 % rows));
            assert_eq!(sizes, expected, "blocks of {rows}");
            let ids: Vec<String> = parts.iter().flat_map(|t| t.ids.clone()).collect();
            assert_eq!(ids, (0..33).map(|r| format!("A{r}")).collect::<Vec<_>>(), "blocks of {rows}");
            let x = first_feature(&parts);
            assert_eq!(x, (0..33).map(|r| r as f64).collect::<Vec<_>>(), "blocks of {rows}");
        }
    }

    /// CSV blocks end only at record ends: quoted cells with line breaks,
    /// commas and quotes, CRLF line ends and a last line without one.
    #[test]
    fn csv_blocks_end_between_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.csv");
        let mut text = String::from("account_id,x,plan,churned\r\n");
        for r in 0..11 {
            let plan = if r % 3 == 0 { "\"multi\r\nline, \"\"quoted\"\"\"" } else { "basic" };
            text += &format!("A{r},{r}.5,{plan},{}", r % 2);
            if r < 10 {
                text += "\r\n";
            }
        }
        std::fs::write(&path, text).unwrap();
        let whole = read_table(&path, &columns(), &defs(), Labels::Required).unwrap();
        assert_eq!(whole.len(), 11);
        for rows in [1, 2, 4, 100] {
            let parts = blocks(&path, rows).unwrap();
            assert_eq!(parts.len(), 11_usize.div_ceil(rows), "blocks of {rows}");
            let ids: Vec<String> = parts.iter().flat_map(|t| t.ids.clone()).collect();
            assert_eq!(ids, whole.ids, "blocks of {rows}");
            for k in 0..2 {
                let values: Vec<FeatureValues> = parts.iter().map(|t| t.features[k].values.clone()).collect();
                let joined = match &whole.features[k].values {
                    FeatureValues::Numeric(_) => FeatureValues::Numeric(
                        values
                            .iter()
                            .flat_map(|v| if let FeatureValues::Numeric(v) = v { v.clone() } else { vec![] })
                            .collect(),
                    ),
                    FeatureValues::Categorical(_) => FeatureValues::Categorical(
                        values
                            .iter()
                            .flat_map(|v| match v {
                                FeatureValues::Categorical(v) => v.iter().map(|l| l.map(str::to_string)).collect(),
                                FeatureValues::Numeric(_) => vec![],
                            })
                            .collect(),
                    ),
                };
                assert_eq!(joined, whole.features[k].values, "feature {k}, blocks of {rows}");
            }
        }
        let FeatureValues::Categorical(plans) = &whole.features[1].values else {
            panic!("categorical")
        };
        assert_eq!(plans.get(3), Some("multi\r\nline, \"quoted\""));
    }

    /// Categorical cells are read as codes: blank and NA cells are missing,
    /// labels are trimmed, and a selection keeps the labels of its rows.
    #[test]
    fn categories_read_as_codes_keep_their_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        std::fs::write(
            &path,
            "account_id,x,plan,churned\nA,1,pro ,1\nB,2,,0\nC,3,basic,0\nD,4,NA,1\nE,5,pro,0\n",
        )
        .unwrap();
        let t = read_table(&path, &columns(), &defs(), Labels::Required).unwrap();
        let FeatureValues::Categorical(plan) = &t.features[1].values else {
            panic!("categorical")
        };
        let labels: Vec<Option<&str>> = plan.iter().collect();
        assert_eq!(labels, [Some("pro"), None, Some("basic"), None, Some("pro")]);
        assert_eq!(plan.levels(), ["pro", "basic"]);
        let picked = plan.select(&[4, 3, 2]);
        assert_eq!(picked.iter().collect::<Vec<_>>(), [Some("pro"), None, Some("basic")]);
        // Equal by label, whatever the numbering of the levels.
        assert_eq!(picked, Categories::from_labels([Some("pro"), None, Some("basic")]));
        assert_ne!(picked, Categories::from_labels([Some("pro"), Some("basic"), None]));
        let slots = picked.map_levels(|l| l.map_or(0, str::len));
        assert_eq!((0..3).map(|r| slots[picked.slot(r)]).collect::<Vec<_>>(), [3, 0, 5]);
    }

    #[test]
    fn zero_padded_ids_keep_their_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.csv");
        std::fs::write(&path, "account_id,x,plan,churned\n007,1,pro,1\n0420,2,basic,0\n").unwrap();
        let whole = read_table(&path, &columns(), &defs(), Labels::Required).unwrap();
        assert_eq!(whole.ids, ["007", "0420"]);
        let parts = blocks(&path, 1).unwrap();
        assert_eq!(parts.iter().flat_map(|t| t.ids.clone()).collect::<Vec<_>>(), ["007", "0420"]);
    }

    #[test]
    fn empty_csv_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [("empty.csv", ""), ("header.csv", "account_id,x,plan,churned\n")] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let err = TableBlocks::open(&path, &columns(), &defs(), Labels::Required, 4)
                .err()
                .expect("an error");
            assert!(matches!(err, Error::EmptyTable { .. }), "{name}: {err}");
        }
    }

    #[test]
    fn seen_ids_tell_a_repeat_from_a_near_miss() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 1, d);
        // Room for two: the table grows past it.
        let mut seen = Seen::with_capacity(2);
        // (id, date, the earlier row it repeats)
        let rows = [
            ("A1", day(1), None),
            ("A12", day(1), None),
            ("A", day(1), None),
            ("", None, None),
            ("A1", day(2), None),
            ("A12", day(1), Some(1)),
            ("", None, Some(3)),
            ("A1", None, None),
            ("A1", day(2), Some(4)),
        ];
        // A repeat is not recorded (the reader stops there), so the repeats
        // here all point at rows before the first one.
        for (row, (id, date, repeat)) in rows.into_iter().enumerate() {
            assert_eq!(seen.insert(id, date), repeat, "row {row}: {id} {date:?}");
        }
    }

    #[test]
    fn labels_are_read_from_numbers_booleans_and_text() {
        let path = Path::new("live.parquet");
        let ok = |c: Column| -> Vec<Option<u8>> {
            let df = DataFrame::new_infer_height(vec![c]).unwrap();
            Frame::new(path, &df).labels("y", "risk label", None).unwrap()
        };
        let err = |c: Column| -> String {
            let df = DataFrame::new_infer_height(vec![c]).unwrap();
            Frame::new(path, &df).labels("y", "risk label", None).unwrap_err().to_string()
        };
        let want = vec![Some(1), None, Some(0)];
        assert_eq!(ok(Column::new("y".into(), [Some(1i64), None, Some(0)])), want);
        assert_eq!(ok(Column::new("y".into(), [Some(1i32), None, Some(0)])), want);
        assert_eq!(ok(Column::new("y".into(), [Some(1.0f64), None, Some(0.0)])), want);
        assert_eq!(ok(Column::new("y".into(), [Some(true), None, Some(false)])), want);
        assert_eq!(ok(Column::new("y".into(), [Some("1"), Some(""), Some("0")])), want);
        assert_eq!(ok(Column::new("y".into(), [Some("Yes"), None, Some("no")])), want);
        assert_eq!(ok(Column::new("y".into(), [Some("Y"), Some(" "), Some("N")])), want);
        assert_eq!(ok(Column::new("y".into(), [Some("TRUE"), None, Some("False")])), want);
        // Named values, case-insensitive; a value not named is an error with its row.
        let values = LabelValues {
            positive: vec!["Churned".into()],
            negative: vec!["Renewed".into(), "Active".into()],
        };
        let df = DataFrame::new_infer_height(vec![Column::new("y".into(), [Some("churned"), None, Some("ACTIVE")])]).unwrap();
        assert_eq!(Frame::new(path, &df).labels("y", "risk label", Some(&values)).unwrap(), want);
        let df = DataFrame::new_infer_height(vec![Column::new("y".into(), ["Renewed", "Paused"])]).unwrap();
        let msg = Frame::new(path, &df)
            .labels("y", "risk label", Some(&values))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("row 2") && msg.contains("`Paused`"), "{msg}");
        for (c, value) in [
            (Column::new("y".into(), [1i64, 2]), "`2`"),
            (Column::new("y".into(), [1.0f64, f64::NAN]), "`NaN`"),
            (Column::new("y".into(), [0.0f64, 0.5]), "`0.5`"),
            (Column::new("y".into(), ["1", "maybe"]), "`maybe`"),
        ] {
            let msg = err(c);
            assert!(
                msg.contains("row 2") && msg.contains(value) && msg.contains("live.parquet"),
                "{msg}"
            );
        }
    }

    /// A CSV block is parsed with the types of the block before; when a cell
    /// does not fit them (a fraction in a column of integers so far, a word),
    /// that block's types are inferred again: no value is lost or changed.
    #[test]
    fn csv_blocks_read_cells_that_change_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "types.csv", 20, |r, c| match r {
            13 => c.1 = "2.5".into(),
            17 => c.1 = String::new(),
            18 => c.1 = "NA".into(),
            _ => {}
        });
        let parts = blocks(&path, 4).unwrap();
        let want: Vec<u64> = (0..20)
            .map(|r| match r {
                13 => 2.5,
                17 | 18 => f64::NAN,
                _ => r as f64,
            })
            .map(f64::to_bits)
            .collect();
        let got: Vec<u64> = first_feature(&parts).into_iter().map(f64::to_bits).collect();
        assert_eq!(got, want);
        let FeatureValues::Numeric(whole) = read_table(&path, &columns(), &defs(), Labels::Required).unwrap().features[0]
            .values
            .clone()
        else {
            panic!("numeric")
        };
        assert_eq!(whole.into_iter().map(f64::to_bits).collect::<Vec<_>>(), want);
    }

    #[test]
    fn errors_in_later_blocks_name_the_row_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // (what changes, on which 0-based row, what the error must say)
        type Edit = fn(&mut (String, String));
        let cases: [(&str, usize, Edit, [&str; 3]); 2] = [
            // Row 18 repeats the id of row 3: they sit in different blocks.
            ("dup", 17, |c| c.0 = "A2".into(), ["row 18", "row 3", "A2"]),
            // A text cell on row 15 (the fourth block of 4 rows).
            ("bad", 14, |c| c.1 = "abc".into(), ["row 15", "`x`", "expected a number"]),
        ];
        for ext in ["csv", "parquet"] {
            for (name, row, edit, expected) in cases {
                let path = file(dir.path(), &format!("{name}.{ext}"), 20, |r, c| {
                    if r == row {
                        edit(c);
                    }
                });
                let msg = blocks(&path, 4).unwrap_err().to_string();
                assert!(expected.iter().all(|e| msg.contains(e)), "{name}.{ext}: {msg}");
            }
        }
    }
}
