"""Layer 3, results: the run store read back, the files a run writes, KPIs and the HTML report.
See docs/kpis-and-report.md and docs/architecture.md.
"""
