/** The bad-input corpus, part "specs": native synthetic data specs, and the series and QA options checked against them (test/helpers/bad-input-suite.ts). */
import { badInputSuite } from './helpers/bad-input-suite';

badInputSuite('specs');
