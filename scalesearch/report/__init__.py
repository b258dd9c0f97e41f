"""Report writers: tables and plots from saved results."""
