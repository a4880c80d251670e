"""Dirt injection and serialisation to JSON lines, with the exact defect list, in Spark built-ins.

Every decision is a hash of (seed, event_id, purpose) (never F.rand, which depends on the
partitioning), so the same events get the same defects on any cluster. Content defects are
mutually exclusive per event; duplicates and late arrival only touch otherwise clean events;
bot events are left as they are (their defect is being a bot).
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.settings.simulate import DirtRates

DAY_MS = 86_400_000
TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
INVALID_UTF8_BYTES = b"\xc3\x28\xff"
UNKNOWN_EVENT_TYPES = ("page_ping", "wishlist_add", "hover", "scroll_depth")
APP_VERSIONS = ("4.2.0", "4.3.1", "5.0.0-beta")
REQUIRED_FIELDS = ("event_id", "event_time", "event_type", "session_id")
CONTENT_CLASSES = ("malformed", "missing_required", "unknown_event_type", "future_timestamp",
                   "epoch_timestamp", "invalid_utf8")
PRICE_CLASSES = ("wrong_type", "bad_price")
# Every defect class that may appear in the ground truth.
DEFECT_CLASSES = (*CONTENT_CLASSES, *PRICE_CLASSES, "duplicate", "late_arrival", "bot_traffic",
                  "extra_field", "renamed_field", "empty_file")
JSON_FIELDS = ("event_id", "event_time", "event_type", "user_id", "userId", "session_id", "item_id",
               "category", "brand", "price", "quantity", "promotion_id", "position", "propensity",
               "policy", "app_version")


def hash_uniform(seed: int, key: Column, purpose: str) -> Column:
    """A uniform double in [0, 1) from xxhash64(seed, key, purpose)."""
    h = F.xxhash64(F.lit(seed), key, F.lit(purpose))
    return F.shiftrightunsigned(h, 11).cast("double") / float(1 << 53)


def _pick(values: tuple, u: Column) -> Column:
    arr = F.array(*[F.lit(v) for v in values])
    return F.element_at(arr, (F.floor(u * len(values)) + 1).cast("int"))


def with_defect_plan(events_df: DataFrame, rates: DirtRates, seed: int) -> DataFrame:
    """Adds ``defect`` (class or null), ``detail``, ``copies`` (deliveries) and ``late_days``."""
    eid = F.col("event_id")
    u = hash_uniform(seed, eid, "content")
    bounds = []
    acc = 0.0
    for name in CONTENT_CLASSES:
        acc += getattr(rates, name)
        bounds.append((name, acc))
    content = F.lit(None).cast("string")
    for name, upper in reversed(bounds):
        content = F.when(u < upper, F.lit(name)).otherwise(content)
    up = hash_uniform(seed, eid, "price")
    price_class = (F.when(up < rates.wrong_type, F.lit("wrong_type"))
                   .when(up < rates.wrong_type + rates.bad_price, F.lit("bad_price")))
    defect = (F.when(F.col("is_bot"), F.lit("bot_traffic"))
              .otherwise(F.coalesce(content, F.when(F.col("price").isNotNull(), price_class))))
    is_clean = defect.isNull()
    copies = F.when(is_clean & (hash_uniform(seed, eid, "dup") < rates.duplicate),
                    2 + F.floor(hash_uniform(seed, eid, "dup_n") * 4)).otherwise(1).cast("int")
    late = F.when(is_clean & (hash_uniform(seed, eid, "late") < rates.late_arrival),
                  1 + F.floor(hash_uniform(seed, eid, "late_n") * 3)).otherwise(0).cast("int")
    return (events_df.withColumn("defect", defect)
            .withColumn("copies", copies).withColumn("late_days", late)
            .withColumn("u_detail", hash_uniform(seed, eid, "detail")))


def with_dirty_fields(plan_df: DataFrame) -> DataFrame:
    """Applies the field-level defects and sets ``detail`` (which field / what value)."""
    d, u = F.col("defect"), F.col("u_detail")
    missing = _pick(REQUIRED_FIELDS, u)
    bad_kind = F.floor(u * 3)
    bad_price = (F.when(bad_kind == 0, F.lit(0.0)).when(bad_kind == 1, -F.col("price"))
                 .otherwise(F.lit(1_000_000.0) + F.col("price") * 1000))
    unknown = _pick(UNKNOWN_EVENT_TYPES, u)
    years = 1 + F.floor(u * 5)
    event_ms = (F.when(d == "future_timestamp", F.col("event_ms") + years * 365 * DAY_MS)
                .when(d == "epoch_timestamp", F.pmod(F.col("event_ms"), F.lit(DAY_MS)))
                .otherwise(F.col("event_ms")))
    is_missing = d == "missing_required"

    def drop_if(name: str, value: Column) -> Column:
        return F.when(is_missing & (missing == name), F.lit(None).cast("string")).otherwise(value)

    detail = (F.when(is_missing, missing)
              .when(d == "unknown_event_type", unknown)
              .when(d == "bad_price", bad_price.cast("string"))
              .when(d == "wrong_type", F.translate(F.format_string("%.2f", F.col("price")), ".", ","))
              .when(d == "future_timestamp", F.concat(F.lit("+"), years.cast("string"), F.lit("y")))
              .when(d == "late_arrival", F.col("late_days").cast("string")))
    return (plan_df
            .withColumn("event_time", F.date_format(F.timestamp_millis(event_ms), TIME_FORMAT))
            .withColumn("event_time", drop_if("event_time", F.col("event_time")))
            .withColumn("json_event_id", drop_if("event_id", F.col("event_id")))
            .withColumn("event_type", drop_if("event_type", F.when(d == "unknown_event_type", unknown)
                                              .otherwise(F.col("event_type"))))
            .withColumn("session_id", drop_if("session_id", F.col("session_id")))
            .withColumn("price", F.when(d == "bad_price", bad_price).otherwise(F.col("price")))
            .withColumn("detail", detail))


def with_files(dirty_df: DataFrame, rates: DirtRates, seed: int, files_per_day: int) -> DataFrame:
    """Explodes duplicate deliveries and assigns each line its file and arrival date.

    Adds copy_no, arrival_date (date), gen_date (date), file_idx, has_extra_field,
    has_renamed_field.
    """
    event_date = F.to_date(F.timestamp_millis(F.col("event_ms")))
    file_key = F.concat_ws("/", F.col("arrival_date").cast("string"), F.col("gen_date").cast("string"),
                           F.col("file_idx").cast("string"))
    return (dirty_df
            .withColumn("copy_no", F.explode(F.sequence(F.lit(0), F.col("copies") - 1)))
            .withColumn("arrival_date", F.date_add(event_date, F.col("late_days")))
            .withColumn("file_idx", F.pmod(F.xxhash64(F.lit(seed), F.col("event_id"), F.col("copy_no")),
                                           F.lit(files_per_day)).cast("int"))
            .withColumn("has_extra_field",
                        hash_uniform(seed, file_key, "extra_field") < rates.extra_field_files)
            .withColumn("has_renamed_field",
                        hash_uniform(seed, file_key, "renamed_field") < rates.renamed_field_files))


def _with_invalid_utf8(json: Column) -> Column:
    """``json`` with INVALID_UTF8_BYTES at the start of its session_id value.

    Spark strings are byte arrays: a binary cast to string keeps bytes that are not UTF-8, and
    byte-wise concat and substring_index pass them on to the text writer, so the files get the bad
    bytes directly (no driver pass that decompresses and recompresses every file afterwards).
    """
    marker = '"session_id":"'
    bad = F.unhex(F.lit(INVALID_UTF8_BYTES.hex())).cast("string")
    # to_json writes the key once; substring_index splits at its first and last occurrence.
    return F.when(F.instr(json, marker) > 0,
                  F.concat(F.substring_index(json, marker, 1), F.lit(marker), bad,
                           F.substring_index(json, marker, -1))).otherwise(json)


def with_lines(files_df: DataFrame, partitions: int) -> DataFrame:
    """Adds ``line`` (the text to write) and ``line_no`` (1-based position in its file).

    ``partitions``: of the shuffle by file. It grows with the data (the caller passes the
    preset's generation_partitions) rather than following the session's shuffle partitions, so
    a task's share of the lines stays about the same from tiny to a cluster-sized preset.
    """
    d = F.col("defect")
    fields = []
    for name in JSON_FIELDS:
        if name == "event_id":
            value = F.col("json_event_id")
        elif name == "user_id":
            value = F.when(~F.col("has_renamed_field"), F.col("user_id"))
        elif name == "userId":
            value = F.when(F.col("has_renamed_field"), F.col("user_id"))
        elif name == "app_version":
            value = F.when(F.col("has_extra_field"),
                           _pick(APP_VERSIONS, hash_uniform(0, F.col("event_id"), "app")))
        else:
            value = F.col(name)
        fields.append(value.alias(name))
    json = F.to_json(F.struct(*fields), {"ignoreNullFields": "true"})
    line = (F.when(d == "wrong_type",
                   F.regexp_replace(json, r'"price":[-0-9.E]+',
                                    F.concat(F.lit('"price":"'), F.col("detail"), F.lit('"'))))
            .when(d == "malformed", F.substring(json, 1, (F.length(json) / 2).cast("int")))
            .when(d == "invalid_utf8", _with_invalid_utf8(json))
            .otherwise(json))
    order = Window.partitionBy("arrival_date", "gen_date", "file_idx").orderBy(
        "event_ms", "event_id", "copy_no")
    # Hash-partition by file first: the window and the writer then share one shuffle.
    return (files_df.repartition(partitions, "arrival_date", "gen_date", "file_idx")
            .withColumn("line", line)
            .withColumn("line_no", F.row_number().over(order)))
