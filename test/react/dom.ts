/**
 * A DOM for React in Node (happy-dom's window as the globals), imported first by the React
 * suites: react-dom looks for `window` and `document` when it loads.
 */
import { GlobalRegistrator } from '@happy-dom/global-registrator';

if (!GlobalRegistrator.isRegistered) GlobalRegistrator.register({ url: 'http://127.0.0.1/' });
// Tells React that updates are wrapped in act() (testing-library does it), as a test runner would.
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
