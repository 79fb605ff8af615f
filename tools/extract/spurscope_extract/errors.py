"""Bad input is reported the way spurscope reports it: `error: FILE: FIELD:
PROBLEM` on one line, then exit status 2."""


class InputError(Exception):
    def __init__(self, file, problem, field=None):
        super().__init__(problem)
        self.file = str(file)
        self.field = field
        self.problem = problem

    def __str__(self):
        if self.field is not None:
            return f"{self.file}: {self.field}: {self.problem}"
        return f"{self.file}: {self.problem}"
