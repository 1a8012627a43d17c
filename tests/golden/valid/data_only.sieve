# A data-only pipeline: load two files, split them, mix the parts and export the
# result. No model is involved.
pipeline data_only {
  let seed = 5
  stage math   = load(path = "shared/rows.jsonl", prompt = "question", answer = "answer",
                        keep = ["source"], limit = 1_000)
  stage extra  = load(path = "shared/more.parquet", format = parquet, id = "none", keep = [])
  stage train  = split(math, fraction = 0.8)
  stage test   = split(math, fraction = 0.8, part = "test")   # quoted: the bare word `test` names a stage here
  stage by_src = split(extra, mode = values, column = "source", values = ["gsm8k", 3, true])
  stage easy   = split(extra, mode = holdout, holdout = 5..9, part = "train")
  stage mix    = concat(train, by_src, easy)
  stage out    = export(mix, path = "out/train.jsonl", format = jsonl)
  stage out_t  = export(test, path = "out/test.parquet", overwrite = true)
}
