"""Analysis code the tools in ``tools/analysis_tools`` import: counts in the paper's convention."""
