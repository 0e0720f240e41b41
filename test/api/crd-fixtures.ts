import { tracePolicyCrd, traceJobCrd } from '../../src/api/crd.ts';
import { crdValidator } from './crd-validator.ts';

export const traceCrdValidator = () => crdValidator(traceJobCrd());
export const policyCrdValidator = () => crdValidator(tracePolicyCrd());
