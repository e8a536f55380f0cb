"""The embedding lifecycle: backfill, champion/challenger experiments, evaluation, promotion, rollback."""
