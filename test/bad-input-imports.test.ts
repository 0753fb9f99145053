/** The bad-input corpus, part "imports": exhibit and BIT summary-statistics specs, the coding section and its code schemes (test/helpers/bad-input-suite.ts). */
import { badInputSuite } from './helpers/bad-input-suite';

badInputSuite('imports');
