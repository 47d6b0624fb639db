//! Writing cells as CSV or Parquet, a page at a time: each call returns the bytes
//! the page added, so a caller can stream them (`GET /export`) or append them to a
//! file (`c360 export`) without holding the whole export.
//!
//! Parquet types: amounts DECIMAL(20,2) built from the fen integers (never a float),
//! times TIMESTAMP in microseconds with time zone UTC, booleans, 64-bit integers and
//! UTF-8 strings. Row groups hold [`ROW_GROUP_ROWS`] rows, Snappy-compressed.

use std::io::Write;
use std::sync::{Arc, Mutex};

use arrow_array::builder::{
    BooleanBuilder, Decimal128Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{time_text, Cell, ExportError, Format, Kind, Plan};

/// Rows per Parquet row group: big enough for column statistics and compression to
/// pay, small enough that the group being built stays a few megabytes.
const ROW_GROUP_ROWS: usize = 50_000;
/// DECIMAL(20,2): any CNY amount in fen a bank holds, with room to sum in a query.
const AMOUNT_PRECISION: u8 = 20;
const AMOUNT_SCALE: i8 = 2;

/// Bytes written by an encoder and not yet handed out.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn take(&self) -> Bytes {
        Bytes::from(std::mem::take(
            &mut *self.0.lock().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One file being written.
pub struct Encoder(Sink);

/// The writer of each format, over the buffer it writes into.
enum Sink {
    Csv {
        writer: csv::Writer<Buffer>,
        buffer: Buffer,
    },
    Parquet {
        writer: ArrowWriter<Buffer>,
        buffer: Buffer,
        schema: SchemaRef,
        kinds: Vec<Kind>,
    },
}

fn write_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::Write(e.to_string())
}

impl Encoder {
    /// An encoder for `plan`'s columns; `without_branch` leaves the branch column out
    /// (a Hive partition holds it in its directory name).
    pub fn new(format: Format, plan: &Plan, without_branch: bool) -> Result<Encoder, ExportError> {
        let headers: Vec<(String, Kind)> = plan
            .headers()
            .into_iter()
            .filter(|(name, _)| !(without_branch && name == "branch"))
            .collect();
        let buffer = Buffer::default();
        match format {
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(buffer.clone());
                writer
                    .write_record(headers.iter().map(|(name, _)| name.as_str()))
                    .map_err(write_error)?;
                Ok(Encoder(Sink::Csv { writer, buffer }))
            }
            Format::Parquet => {
                let fields: Vec<Field> = headers
                    .iter()
                    .map(|(name, kind)| Field::new(name, data_type(*kind), nullable(*kind)))
                    .collect();
                let schema = Arc::new(Schema::new(fields));
                let properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                    .build();
                let writer = ArrowWriter::try_new(buffer.clone(), schema.clone(), Some(properties))
                    .map_err(write_error)?;
                Ok(Encoder(Sink::Parquet {
                    writer,
                    buffer,
                    schema,
                    kinds: headers.into_iter().map(|(_, kind)| kind).collect(),
                }))
            }
        }
    }

    /// Adds rows; returns the bytes that are final so far (for Parquet, the row
    /// groups completed; the footer comes with [`Encoder::finish`]).
    pub fn write(&mut self, rows: &[Vec<Cell>]) -> Result<Bytes, ExportError> {
        match &mut self.0 {
            Sink::Csv { writer, buffer } => {
                for row in rows {
                    writer
                        .write_record(row.iter().map(csv_field))
                        .map_err(write_error)?;
                }
                writer.flush().map_err(write_error)?;
                Ok(buffer.take())
            }
            Sink::Parquet {
                writer,
                buffer,
                schema,
                kinds,
            } => {
                let batch = batch(schema, kinds, rows)?;
                writer.write(&batch).map_err(write_error)?;
                Ok(buffer.take())
            }
        }
    }

    /// Ends the file: the bytes left, footer included.
    pub fn finish(self) -> Result<Bytes, ExportError> {
        match self.0 {
            Sink::Csv { mut writer, buffer } => {
                writer.flush().map_err(write_error)?;
                drop(writer);
                Ok(buffer.take())
            }
            Sink::Parquet { writer, buffer, .. } => {
                writer.close().map_err(write_error)?;
                Ok(buffer.take())
            }
        }
    }
}

fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::CustomerKey | Kind::Text => DataType::Utf8,
        Kind::Int => DataType::Int64,
        Kind::Amount => DataType::Decimal128(AMOUNT_PRECISION, AMOUNT_SCALE),
        Kind::Bool => DataType::Boolean,
        Kind::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// Only text can be missing (a customer without a branch, a party or an RFM segment).
fn nullable(kind: Kind) -> bool {
    matches!(kind, Kind::CustomerKey | Kind::Text)
}

fn csv_field(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) => text.clone().unwrap_or_default(),
        Cell::Int(n) => n.to_string(),
        Cell::Fen(fen) => rust_decimal::Decimal::new(*fen, 2).to_string(),
        Cell::Bool(b) => b.to_string(),
        Cell::Time(t) => time_text(*t),
    }
}

/// The rows as one Arrow batch, column by column.
fn batch(
    schema: &SchemaRef,
    kinds: &[Kind],
    rows: &[Vec<Cell>],
) -> Result<RecordBatch, ExportError> {
    let mismatch = || ExportError::Write("a cell does not match its column's type".to_owned());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(kinds.len());
    for (at, kind) in kinds.iter().enumerate() {
        let cells = rows.iter().map(|row| row.get(at));
        let array: ArrayRef = match kind {
            Kind::CustomerKey | Kind::Text => {
                let mut b = StringBuilder::new();
                for cell in cells {
                    match cell {
                        Some(Cell::Text(text)) => b.append_option(text.as_deref()),
                        _ => return Err(mismatch()),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Int => {
                let mut b = Int64Builder::new();
                for cell in cells {
                    match cell {
                        Some(Cell::Int(n)) => b.append_value(*n),
                        _ => return Err(mismatch()),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Amount => {
                let mut b = Decimal128Builder::new();
                for cell in cells {
                    match cell {
                        Some(Cell::Fen(fen)) => b.append_value(i128::from(*fen)),
                        _ => return Err(mismatch()),
                    }
                }
                Arc::new(
                    b.finish()
                        .with_precision_and_scale(AMOUNT_PRECISION, AMOUNT_SCALE)
                        .map_err(write_error)?,
                )
            }
            Kind::Bool => {
                let mut b = BooleanBuilder::new();
                for cell in cells {
                    match cell {
                        Some(Cell::Bool(v)) => b.append_value(*v),
                        _ => return Err(mismatch()),
                    }
                }
                Arc::new(b.finish())
            }
            Kind::Time => {
                let mut b = TimestampMicrosecondBuilder::new();
                for cell in cells {
                    match cell {
                        Some(Cell::Time(t)) => b.append_value(t.timestamp_micros()),
                        _ => return Err(mismatch()),
                    }
                }
                Arc::new(b.finish().with_timezone("UTC"))
            }
        };
        arrays.push(array);
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn csv_writes_amounts_as_exact_decimals_and_times_in_utc() {
        assert_eq!(csv_field(&Cell::Fen(123_450)), "1234.50");
        assert_eq!(csv_field(&Cell::Fen(-5)), "-0.05");
        assert_eq!(csv_field(&Cell::Text(None)), "");
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(csv_field(&Cell::Time(t)), "2026-01-02T03:04:05.000000Z");
    }

    #[test]
    fn a_parquet_batch_has_decimal_and_timestamp_columns() {
        let kinds = [Kind::Text, Kind::Amount, Kind::Time, Kind::Bool];
        let schema: SchemaRef = Arc::new(Schema::new(
            kinds
                .iter()
                .enumerate()
                .map(|(i, k)| Field::new(format!("c{i}"), data_type(*k), nullable(*k)))
                .collect::<Vec<_>>(),
        ));
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let rows = vec![vec![
            Cell::Text(Some("x".into())),
            Cell::Fen(1_000_000_000_001),
            Cell::Time(t),
            Cell::Bool(true),
        ]];
        let batch = batch(&schema, &kinds, &rows).unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.column(1).data_type(), &DataType::Decimal128(20, 2));
        let wrong = vec![vec![
            Cell::Int(1),
            Cell::Fen(1),
            Cell::Time(t),
            Cell::Bool(true),
        ]];
        assert!(batch_fails(&schema, &kinds, &wrong));
    }

    fn batch_fails(schema: &SchemaRef, kinds: &[Kind], rows: &[Vec<Cell>]) -> bool {
        batch(schema, kinds, rows).is_err()
    }
}
