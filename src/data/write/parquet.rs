//! Parquet output: one row group per block, written with polars' Parquet crate
//! from the table's own columns.

use super::*;

/// A Parquet file written one row group per block with polars' Parquet crate,
/// each column in the encoding its kind calls for, so that no column pays for
/// a dictionary it will not use:
///
/// - labels become dictionary pages straight from their codes, with no hashing;
/// - `Num` columns (attributions, odds: nearly every value distinct) and
///   `Cells` (driver values) are written plain;
/// - `Text`, `Float` and `Int` columns get a dictionary when polars finds few
///   distinct values in the block (dates, rounded health scores), as polars'
///   own writer does for every column.
///
/// Readers see text columns as strings either way: the file's Arrow schema
/// names them strings, and dictionary pages are only how Parquet stores them.
pub(super) struct ParquetOut<W: std::io::Write> {
    pub(super) writer: polars_parquet::write::FileWriter<W>,
    /// The Parquet type of each column, in order.
    pub(super) types: Vec<polars_parquet::write::ParquetType>,
    pub(super) options: polars_parquet::write::WriteOptions,
}

impl<W: std::io::Write> ParquetOut<W> {
    /// A writer for tables with the columns of `first`.
    pub(super) fn new(out: W, first: &OutTable) -> PolarsResult<ParquetOut<W>> {
        use polars_arrow::datatypes::{ArrowSchema, Field};
        use polars_parquet::write::{CompressionOptions, FileWriter, StatisticsOptions, Version, WriteOptions};
        let schema: ArrowSchema = first
            .names
            .iter()
            .zip(&first.columns)
            .map(|(name, c)| Field::new(PlSmallStr::from_str(name), c.arrow_type(), true))
            .collect();
        if schema.len() != first.names.len() {
            polars_bail!(Duplicate: "an output table names a column twice: {:?}", first.names);
        }
        let options = WriteOptions {
            statistics: StatisticsOptions::default(),
            version: Version::V1,
            compression: CompressionOptions::Lz4Raw,
            data_page_size: None,
        };
        let writer = FileWriter::try_new(out, schema, options)?;
        let types = writer.parquet_schema().fields().to_vec();
        Ok(ParquetOut { writer, types, options })
    }

    /// Writes `t` (same columns as the first table) as one row group.
    pub(super) fn write(&mut self, t: OutTable) -> PolarsResult<()> {
        use polars_parquet::read::ParquetError;
        use polars_parquet::write::{
            array_to_columns, CompressionOptions, Compressor, DynIter, DynStreamingIterator, FallibleStreamingIterator,
        };
        let rows = t.rows();
        if rows == 0 {
            return Ok(());
        }
        let options = self.options;
        let mut columns = Vec::with_capacity(t.columns.len());
        for (c, type_) in t.columns.into_iter().zip(&self.types) {
            let compression = if c.compresses() {
                options.compression
            } else {
                CompressionOptions::Uncompressed
            };
            let (array, encoding) = c.into_arrow();
            for pages in array_to_columns(array, type_.clone(), options, &[encoding])? {
                let pages = pages.map(|p| p.map_err(|e| ParquetError::FeatureNotSupported(format!("reraised in polars: {e}"))));
                let compressed = Compressor::new_from_vec(pages, compression, vec![]).map_err(PolarsError::from);
                columns.push(Ok(DynStreamingIterator::new(compressed)));
            }
        }
        self.writer.write(rows as u64, DynIter::new(columns.into_iter()))
    }

    /// Writes the footer (with the Arrow schema) and returns the output.
    pub(super) fn finish(mut self) -> PolarsResult<W> {
        self.writer.end(None)?;
        Ok(self.writer.into_inner())
    }
}

/// Values sampled to tell whether a number column is worth compressing.
pub(super) const COMPRESSION_SAMPLE: usize = 1_024;

/// Whether `n` numbers, read by `bits(i)`, repeat enough for LZ4 to pay:
/// false when more than 3/4 of an evenly spaced sample are distinct. Such
/// columns (probabilities, attributions, odds) came out of LZ4 a little
/// larger than they went in; a constant column (the base) shrank 250 times.
pub(super) fn numbers_repeat(n: usize, bits: impl Fn(usize) -> u64) -> bool {
    let step = (n / COMPRESSION_SAMPLE).max(1);
    let mut sample: Vec<u64> = (0..n).step_by(step).map(bits).collect();
    sample.sort_unstable();
    sample.dedup();
    let taken = n.div_ceil(step);
    sample.len() * 4 <= taken * 3
}

impl OutColumn {
    /// Whether the column is written compressed. Number columns whose values
    /// are nearly all distinct are written as they are: LZ4 cost CPU time and
    /// saved nothing on them.
    pub(super) fn compresses(&self) -> bool {
        match self {
            OutColumn::Num(v) => numbers_repeat(v.len(), |i| v[i].to_bits()),
            OutColumn::Float(v) => numbers_repeat(v.len(), |i| v[i].map_or(u64::MAX, f64::to_bits)),
            _ => true,
        }
    }

    /// The Arrow type readers see for this column.
    pub(super) fn arrow_type(&self) -> polars_arrow::datatypes::ArrowDataType {
        use polars_arrow::datatypes::ArrowDataType as T;
        match self {
            OutColumn::Text(_) | OutColumn::Labels { .. } | OutColumn::Cells(_) => T::Utf8View,
            OutColumn::Float(_) | OutColumn::Num(_) => T::Float64,
            OutColumn::Int(_) => T::Int64,
            OutColumn::Bool(_) => T::Boolean,
        }
    }

    /// The column as an Arrow array, with the Parquet encoding to write it in
    /// (see [`ParquetOut`]).
    pub(super) fn into_arrow(self) -> (Box<dyn polars_arrow::array::Array>, polars_parquet::write::Encoding) {
        use polars_arrow::array::{DictionaryArray, MutableBinaryViewArray, PrimitiveArray, Utf8ViewArray};
        use polars_arrow::bitmap::Bitmap;
        use polars_arrow::datatypes::{ArrowDataType as T, IntegerType};
        use polars_parquet::write::Encoding;
        // A validity bitmap only when something is missing.
        let validity = |valid: &mut dyn Iterator<Item = bool>| {
            let b: Bitmap = valid.collect();
            (b.unset_bits() > 0).then_some(b)
        };
        let text = |n: usize, cells: &mut dyn Iterator<Item = Option<&str>>| {
            let mut a = MutableBinaryViewArray::<str>::with_capacity(n);
            for c in cells {
                match c {
                    Some(s) => a.push_value(s),
                    None => a.push_null(),
                }
            }
            let a: Utf8ViewArray = a.freeze();
            a.boxed()
        };
        match self {
            OutColumn::Num(v) => {
                let valid = validity(&mut v.iter().map(|x| x.is_finite()));
                (PrimitiveArray::new(T::Float64, v.into(), valid).boxed(), Encoding::Plain)
            }
            OutColumn::Float(v) => {
                let valid = validity(&mut v.iter().map(Option::is_some));
                let values: Vec<f64> = v.into_iter().map(|x| x.unwrap_or(0.0)).collect();
                (
                    PrimitiveArray::new(T::Float64, values.into(), valid).boxed(),
                    Encoding::RleDictionary,
                )
            }
            OutColumn::Int(v) => {
                let valid = validity(&mut v.iter().map(Option::is_some));
                let values: Vec<i64> = v.into_iter().map(|x| x.unwrap_or(0)).collect();
                (PrimitiveArray::new(T::Int64, values.into(), valid).boxed(), Encoding::RleDictionary)
            }
            OutColumn::Bool(v) => (
                polars_arrow::array::BooleanArray::new(T::Boolean, v.into_iter().collect(), None).boxed(),
                Encoding::Plain,
            ),
            OutColumn::Text(v) => (text(v.len(), &mut v.iter().map(|s| s.as_deref())), Encoding::RleDictionary),
            OutColumn::Cells(c) => (text(c.len(), &mut (0..c.len()).map(|r| c.get(r))), Encoding::Plain),
            OutColumn::Labels { levels, codes } => {
                let n = codes.len();
                if levels.is_empty() {
                    return (Utf8ViewArray::new_null(T::Utf8View, n).boxed(), Encoding::Plain);
                }
                // MISSING (or any code past the levels) is a missing cell.
                let known = |c: u32| (c as usize) < levels.len();
                let valid = validity(&mut codes.iter().map(|&c| known(c)));
                let keys: Vec<u32> = codes.into_iter().map(|c| if known(c) { c } else { 0 }).collect();
                let keys = PrimitiveArray::new(T::UInt32, keys.into(), valid);
                let values = text(levels.len(), &mut levels.iter().map(|l| Some(l.as_str())));
                let dtype = T::Dictionary(IntegerType::UInt32, Box::new(T::Utf8View), false);
                let array = DictionaryArray::try_new(dtype, keys, values).expect("label codes index their levels");
                (array.boxed(), Encoding::RleDictionary)
            }
        }
    }
}
