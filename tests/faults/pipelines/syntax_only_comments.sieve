# fault: a pipeline file with no pipeline in it
# (only comments)
