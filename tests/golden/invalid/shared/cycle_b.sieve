# Helper for import_cycle.sieve: closes the cycle cycle_a.yaml → cycle_b.sieve → cycle_a.yaml.
import "cycle_a.yaml"
stage init = model.init(arch = "nano")
