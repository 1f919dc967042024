"""Departments (原課) of a municipality: budgets, grant kinds, grants one by one or by CSV, reports."""
