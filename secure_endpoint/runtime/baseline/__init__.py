"""What the model's inputs look like: a data-quality baseline built from training data, in the
formats SageMaker Model Monitor documents, plus the reference our detectors need. No CDK, no AWS.

Needs numpy (the ``baseline`` extra: ``pip install 'secure-endpoint[baseline]'``; Parquet input
also needs pyarrow, the ``parquet`` extra).

- ``readers``: training data (CSV with a header, Parquet, JSON Lines of ``{"instances": ...}`` or
  ``{"inputs": ...}``) as bounded blocks of rows (``Block``: a float matrix, NaN where missing);
  ``block_from_payload`` reads one request body the same way (for the capture readers);
- ``kll``: the mergeable KLL quantile sketch, serialized as Model Monitor's ``kll.sketch``;
- ``profile``: streaming per-feature statistics (Chan's merge of counts, means and squared
  deviations; min/max; completeness; types; one-hot groups; distinct values), mergeable;
- ``formats``: ``statistics.json``, ``constraints.json`` and ``constraint_violations.json`` as
  Model Monitor documents them (field names below), and our ``reference.json``;
- ``store``: writes a baseline directory with a ``manifest.json`` of SHA-256 digests (and an
  optional HMAC-SHA256), and loads one, refusing files whose digest does not match.

Model Monitor's formats, field names as documented (read 2026-12-07):

``statistics.json`` (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-interpreting-statistics.html,
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-statistics.html)::

    version; dataset {item_count}; features[]: name, inferred_type ("Fractional" | "Integral" |
    "String"; "Unknown" in constraints), and either
      numerical_statistics {common {num_present, num_missing}, mean, sum, std_dev, min, max,
        distribution {kll {buckets [{lower_bound, upper_bound, count}],
                           sketch {parameters {c, k}, data [[num, ...], ...]}}}}
    or
      string_statistics {common {num_present, num_missing}, distinct_count,
        distribution {categorical {buckets [{value, count}]}}}

  "By default, we materialize the distribution in 10 buckets": ours are 10 buckets of equal width
  between min and max, counted from the sketch. ``std_dev`` is the population standard deviation.

``constraints.json`` (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-constraints.html)::

    version; features[]: name, inferred_type ("Integral" | "Fractional" | "String" | "Unknown"),
      completeness (the observed share of non-null values), num_constraints {is_non_negative},
      string_constraints {domains [observed values, for small cardinality]},
      monitoringConfigOverrides {};
    monitoring_config {evaluate_constraints ("Enabled" | "Disabled"), emit_metrics,
      datatype_check_threshold, domain_content_threshold,
      distribution_constraints {perform_comparison, comparison_threshold,
        comparison_method ("Simple" | "Robust"), categorical_comparison_threshold,
        categorical_drift_method ("LInfinity" | "ChiSquared")}}

``constraint_violations.json`` (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-interpreting-violations.html)::

    violations[]: feature_name, constraint_check_type (data_type_check | completeness_check |
      baseline_drift_check | missing_column_check | extra_column_check |
      categorical_values_check), description

Model Monitor infers a column's type from how its values are written (Deequ's data-type
analysis): "3.0" is Fractional. So do we: a column is Integral only when every value is whole
and written as an integer (CSV and JSON text without a point or an exponent, a Parquet integer
column); a float column of whole numbers stays Fractional, with ``whole_valued`` in the reference.
"""
