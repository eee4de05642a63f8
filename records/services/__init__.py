"""Writes to the chart (see records.services.chart, .notes, .documents)."""
