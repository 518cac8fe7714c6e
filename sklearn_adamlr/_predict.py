"""Predictions of a fitted linear classifier, in memory or on dask blocks."""

from scipy import sparse
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _dask
from ._loss import loss_for
from ._sparse import check_csr_indices


class LinearPredictions(LinearClassifierMixin):
    """``decision_function``, ``predict`` and the probabilities of ``coef_``.

    On dense, CSR and dask arrays (a dask array gives a dask array, computed
    block by block where it lives).
    """

    def decision_function(self, X):
        """Raw predictions: the logit of class 1, or one score per class.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a dask array, computed block by block.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, positive means ``classes_[1]``; otherwise the
            largest score's column of ``classes_`` is the prediction.
        """
        check_is_fitted(self)
        if _dask.is_dask_collection(X):
            return _dask.predict_blocks(self, "decision_function", X)
        X = validate_data(self, X, accept_sparse="csr", reset=False)
        if sparse.issparse(X):
            # scipy's product would read past coef_ as our kernels would
            check_csr_indices(X)
        scores = safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Class labels: the class of the largest score.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a dask array, computed block by block.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Values of ``classes_``.
        """
        if _dask.is_dask_collection(X):
            return _dask.predict_blocks(self, "predict", X)
        return super().predict(X)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a dask array, computed block by block.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns follow ``classes_``.
        """
        check_is_fitted(self)
        if _dask.is_dask_collection(X):
            return _dask.predict_blocks(self, "predict_proba", X)
        raw = self.decision_function(X)
        return loss_for(len(self.classes_)).predict_proba(raw.reshape(raw.shape[0], -1))

    def predict_log_proba(self, X):
        """Log of the class probabilities, computed stably.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array gives a dask array, computed block by block.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        if _dask.is_dask_collection(X):
            return _dask.predict_blocks(self, "predict_log_proba", X)
        raw = self.decision_function(X)
        return loss_for(len(self.classes_)).predict_log_proba(
            raw.reshape(raw.shape[0], -1)
        )
