"""What deploys/*.py use: the validated deployment for the running inventory, rendering, helpers."""
