# Problems inside imported files are reported at their place in those files.
import "shared/broken.yaml"
import "shared/broken.sieve"

pipeline import_broken {
  stage tuned = sft(init, pool)
}
