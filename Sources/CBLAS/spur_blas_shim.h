// Named neutrally: a header called cblas.h would share OpenBLAS's include
// guard and import nothing (PLATFORM.md).
#include <x86_64-linux-gnu/cblas.h>

// Declared by OpenBLAS but not in the generic cblas.h on every distribution.
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);

// LAPACK ships inside OpenBLAS (Fortran interface only, no LAPACKE):
// Cholesky factorisation and solve of a symmetric positive definite system.
// The trailing length is gfortran's hidden argument for the character `uplo`.
#include <stddef.h>
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_length);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info, size_t uplo_length);
