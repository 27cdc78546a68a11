from dmarc_analytics.cli import main

main(prog_name="python -m dmarc_analytics")
